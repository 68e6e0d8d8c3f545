//! One emulated device's forwarding state and the Write semantics of P4Runtime spec §9 (entities)
//! and §12 (errors): INSERT of an existing entity is ALREADY_EXISTS, MODIFY/DELETE of a missing one
//! NOT_FOUND, a full table RESOURCE_EXHAUSTED, malformed ids/values/kinds INVALID_ARGUMENT, deleting
//! a member or group still referenced FAILED_PRECONDITION.
//!
//! Invariant: everything stored was validated against `schema`; `process` relies on it.

mod cells;
mod profiles;

use std::collections::BTreeMap;
use std::sync::Arc;

use prescient_southbound::p4runtime::proto::google::rpc::Code;
use prescient_southbound::p4runtime::proto::p4::v1 as p4;

use super::error::EntityError;
use super::schema::Schema;
use super::table::{bind_action, match_key, BoundAction, EntryAction, MatchKey};

/// A stored table entry.
#[derive(Clone, Debug)]
pub struct StoredEntry {
    /// The entry as written, bytes canonical, without counter data.
    pub entry: p4::TableEntry,
    /// Decoded action.
    pub action: EntryAction,
    /// Direct counter (when the table has one).
    pub counter: p4::CounterData,
    /// Direct meter config (when the table has one and it was configured).
    pub meter: Option<p4::MeterConfig>,
    /// Token buckets of the direct meter (emulated traffic), reset when the config changes.
    pub bucket: Option<super::meter::Bucket>,
    /// Packets and bytes the direct meter coloured green, yellow and red.
    pub colors: p4::MeterCounterData,
}

/// One table's entries and default action.
#[derive(Clone, Debug, Default)]
pub struct TableState {
    /// Entries by key.
    pub entries: BTreeMap<MatchKey, StoredEntry>,
    /// Default action, when one is set.
    pub default: Option<(BoundAction, p4::Action)>,
}

/// An action profile member.
#[derive(Clone, Debug)]
pub struct Member {
    /// Decoded action.
    pub action: BoundAction,
    /// As written, canonical.
    pub proto: p4::Action,
}

/// An action profile group: `(member id, weight)` and its declared maximum size.
#[derive(Clone, Debug)]
pub struct Group {
    /// Members and weights.
    pub members: Vec<(u32, u32)>,
    /// Declared max size (0: the profile's).
    pub max_size: i32,
}

/// The forwarding state of one device running a pipeline.
#[derive(Clone, Debug)]
pub struct DeviceState {
    /// The active pipeline's schema.
    pub schema: Arc<Schema>,
    /// Tables by id.
    pub tables: BTreeMap<u32, TableState>,
    /// Members by (profile id, member id).
    pub members: BTreeMap<(u32, u32), Member>,
    /// Groups by (profile id, group id).
    pub groups: BTreeMap<(u32, u32), Group>,
    /// Indexed counters by id.
    pub counters: BTreeMap<u32, Vec<p4::CounterData>>,
    /// Indexed meter configs by id.
    pub meters: BTreeMap<u32, Vec<Option<p4::MeterConfig>>>,
    /// Multicast groups by id.
    pub multicast: BTreeMap<u32, p4::MulticastGroupEntry>,
    /// Clone sessions by id.
    pub clone_sessions: BTreeMap<u32, p4::CloneSessionEntry>,
    /// Digest configurations by digest id: digests are only sent once configured (spec §9.8).
    pub digests: BTreeMap<u32, p4::digest_entry::Config>,
    /// Hosts `(mac, ip, port)` already reported by a digest (the program's learned filter).
    pub learned: std::collections::HashSet<(u64, u32, u32)>,
}

fn update_type(u: i32) -> Result<p4::update::Type, EntityError> {
    match p4::update::Type::try_from(u) {
        Ok(p4::update::Type::Unspecified) | Err(_) => Err(EntityError::invalid(format!(
            "update type {u} is not INSERT, MODIFY or DELETE"
        ))),
        Ok(t) => Ok(t),
    }
}

impl DeviceState {
    /// Empty state for `schema`, default actions and arrays initialised.
    pub fn new(schema: Arc<Schema>) -> Self {
        let mut tables = BTreeMap::new();
        for t in schema.tables.values() {
            // P4Info does not carry non-const defaults; these are prescient.p4's.
            let default_id = t.const_default.or_else(|| {
                let name = if t.name == "PrescientIngress.ipv4_lpm" {
                    "PrescientIngress.drop"
                } else {
                    "NoAction"
                };
                schema
                    .action_by_name(name)
                    .map(|a| a.id)
                    .filter(|id| t.action_scope(*id).is_some())
            });
            let default = default_id.and_then(|id| {
                let a = p4::Action {
                    action_id: id,
                    params: vec![],
                };
                bind_action(&schema, Some(t), &a, true).ok()
            });
            tables.insert(
                t.id,
                TableState {
                    entries: BTreeMap::new(),
                    default,
                },
            );
        }
        let counters = schema
            .counters
            .values()
            .map(|c| {
                (
                    c.id,
                    vec![p4::CounterData::default(); usize::try_from(c.size).unwrap_or(0)],
                )
            })
            .collect();
        let meters = schema
            .meters
            .values()
            .map(|m| (m.id, vec![None; usize::try_from(m.size).unwrap_or(0)]))
            .collect();
        Self {
            schema,
            tables,
            members: BTreeMap::new(),
            groups: BTreeMap::new(),
            counters,
            meters,
            multicast: BTreeMap::new(),
            clone_sessions: BTreeMap::new(),
            digests: BTreeMap::new(),
            learned: Default::default(),
        }
    }

    /// Applies one update.
    pub fn apply(&mut self, update: &p4::Update) -> Result<(), EntityError> {
        use p4::entity::Entity as E;
        let t = update_type(update.r#type)?;
        let Some(entity) = update.entity.as_ref().and_then(|e| e.entity.as_ref()) else {
            return Err(EntityError::invalid("update without an entity"));
        };
        match entity {
            E::TableEntry(e) => self.write_table_entry(t, e),
            E::ActionProfileMember(m) => self.write_member(t, m),
            E::ActionProfileGroup(g) => self.write_group(t, g),
            E::CounterEntry(c) => self.write_counter(t, c),
            E::DirectCounterEntry(c) => self.write_direct_counter(t, c),
            E::MeterEntry(m) => self.write_meter(t, m),
            E::DirectMeterEntry(m) => self.write_direct_meter(t, m),
            E::PacketReplicationEngineEntry(p) => self.write_pre(t, p),
            E::DigestEntry(d) => self.write_digest(t, d),
            E::ExternEntry(_) | E::ValueSetEntry(_) | E::RegisterEntry(_) => {
                Err(EntityError::unimplemented(
                    "extern, value set and register writes are not supported by this target",
                ))
            }
        }
    }

    fn table(&self, table_id: u32) -> Result<&super::schema::TableInfo, EntityError> {
        self.schema
            .tables
            .get(&table_id)
            .ok_or_else(|| EntityError::invalid(format!("unknown table id {table_id:#010x}")))
    }

    fn entry_action(
        &self,
        table_id: u32,
        action: Option<&p4::TableAction>,
    ) -> Result<(EntryAction, p4::TableAction), EntityError> {
        use p4::table_action::Type as A;
        let table = self.table(table_id)?;
        let Some(kind) = action.and_then(|a| a.r#type.as_ref()) else {
            return Err(EntityError::invalid(format!(
                "table `{}`: entry without an action",
                table.name
            )));
        };
        let wrap = |t: A| p4::TableAction { r#type: Some(t) };
        match (table.implementation, kind) {
            (None, A::Action(a)) => {
                let (bound, proto) = bind_action(&self.schema, Some(table), a, false)?;
                Ok((EntryAction::Direct(bound), wrap(A::Action(proto))))
            }
            (None, _) => Err(EntityError::invalid(format!(
                "table `{}` is direct: action profile members, groups and action sets are not allowed",
                table.name
            ))),
            (Some(_), A::Action(_)) => Err(EntityError::invalid(format!(
                "table `{}` is implemented by an action profile: use a member, group or action set",
                table.name
            ))),
            (Some(p), A::ActionProfileMemberId(m)) => {
                if !self.members.contains_key(&(p, *m)) {
                    return Err(EntityError::not_found(format!("table `{}`: member {m} does not exist", table.name)));
                }
                Ok((EntryAction::Member(*m), wrap(A::ActionProfileMemberId(*m))))
            }
            (Some(p), A::ActionProfileGroupId(g)) => {
                if !self.groups.contains_key(&(p, *g)) {
                    return Err(EntityError::not_found(format!("table `{}`: group {g} does not exist", table.name)));
                }
                Ok((EntryAction::Group(*g), wrap(A::ActionProfileGroupId(*g))))
            }
            (Some(p), A::ActionProfileActionSet(set)) => {
                let profile = self.schema.profiles.get(&p).ok_or_else(|| EntityError::invalid("dangling profile"))?;
                if !profile.with_selector && set.action_profile_actions.len() > 1 {
                    return Err(EntityError::invalid(format!(
                        "profile `{}` has no selector: an action set holds exactly one action",
                        profile.name
                    )));
                }
                if set.action_profile_actions.is_empty() {
                    return Err(EntityError::invalid(format!("table `{}`: empty action set", table.name)));
                }
                if profile.max_group_size > 0 && set.action_profile_actions.len() > profile.max_group_size as usize {
                    return Err(EntityError::exhausted(format!(
                        "action set of {} actions exceeds max group size {} of `{}`",
                        set.action_profile_actions.len(),
                        profile.max_group_size,
                        profile.name
                    )));
                }
                let mut bound = Vec::new();
                let mut proto = Vec::new();
                for a in &set.action_profile_actions {
                    let Some(action) = &a.action else {
                        return Err(EntityError::invalid("action set member without an action"));
                    };
                    let weight = u32::try_from(a.weight).ok().filter(|w| *w > 0).ok_or_else(|| {
                        EntityError::invalid(format!("action set weight must be > 0, got {}", a.weight))
                    })?;
                    let (b, p) = bind_action(&self.schema, Some(table), action, false)?;
                    bound.push((b, weight));
                    proto.push(p4::ActionProfileAction { action: Some(p), ..a.clone() });
                }
                let set = p4::ActionProfileActionSet { action_profile_actions: proto };
                Ok((EntryAction::OneShot(bound), wrap(A::ActionProfileActionSet(set))))
            }
        }
    }

    fn write_table_entry(
        &mut self,
        t: p4::update::Type,
        e: &p4::TableEntry,
    ) -> Result<(), EntityError> {
        use p4::update::Type as U;
        let table = self.table(e.table_id)?.clone();
        if e.is_default_action {
            if t != U::Modify {
                return Err(EntityError::invalid(format!(
                    "default entry of `{}` can only be modified",
                    table.name
                )));
            }
            if !e.r#match.is_empty() {
                return Err(EntityError::invalid(format!(
                    "default entry of `{}` must have no match",
                    table.name
                )));
            }
            // PI's order, so both answer alike: an indirect table has no default action to
            // set (INVALID_ARGUMENT, even when the P4Info declares a const one), then a const
            // default is PERMISSION_DENIED.
            if table.implementation.is_some() {
                return Err(EntityError::invalid(format!(
                    "cannot set / reset the default action of `{}`: it is implemented by an \
                     action profile",
                    table.name
                )));
            }
            if table.const_default.is_some() {
                return Err(EntityError::new(
                    Code::PermissionDenied,
                    format!("default action of `{}` is const", table.name),
                ));
            }
            use p4::table_action::Type as A;
            let default = match e.action.as_ref().and_then(|a| a.r#type.as_ref()) {
                Some(A::Action(a)) => Some(bind_action(&self.schema, Some(&table), a, true)?),
                // Resetting to the program's default.
                None => DeviceState::new(Arc::clone(&self.schema))
                    .tables
                    .remove(&table.id)
                    .and_then(|t| t.default),
                Some(_) => {
                    return Err(EntityError::invalid(format!(
                        "default entry of `{}` must use a direct action",
                        table.name
                    )))
                }
            };
            if let Some(ts) = self.tables.get_mut(&table.id) {
                ts.default = default;
            }
            return Ok(());
        }
        let (key, matches) = match_key(&table, e)?;
        let exists = self
            .tables
            .get(&table.id)
            .is_some_and(|ts| ts.entries.contains_key(&key));
        match t {
            U::Delete => {
                if let Some(ts) = self.tables.get_mut(&table.id) {
                    if ts.entries.remove(&key).is_some() {
                        return Ok(());
                    }
                }
                Err(EntityError::not_found(format!(
                    "table `{}`: no entry with this match and priority",
                    table.name
                )))
            }
            U::Insert | U::Modify => {
                // The action is checked before the entry's existence, as PI does.
                let (action, proto_action) = self.entry_action(table.id, e.action.as_ref())?;
                if t == U::Insert && exists {
                    return Err(EntityError::exists(format!(
                        "table `{}`: an entry with this match and priority exists",
                        table.name
                    )));
                }
                if t == U::Modify && !exists {
                    return Err(EntityError::not_found(format!(
                        "table `{}`: no entry with this match and priority",
                        table.name
                    )));
                }
                let len = self.tables.get(&table.id).map_or(0, |ts| ts.entries.len());
                if t == U::Insert && len as u64 >= table.size {
                    return Err(EntityError::exhausted(format!(
                        "table `{}` is full ({} entries)",
                        table.name, table.size
                    )));
                }
                if e.meter_config.is_some() && table.direct_meter.is_none() {
                    return Err(EntityError::invalid(format!(
                        "table `{}` has no direct meter: meter_config not allowed",
                        table.name
                    )));
                }
                cells::check_meter_config(e.meter_config.as_ref())?;
                if e.counter_data.is_some() && table.direct_counter.is_none() {
                    return Err(EntityError::invalid(format!(
                        "table `{}` has no direct counter: counter_data not allowed",
                        table.name
                    )));
                }
                if e.idle_timeout_ns != 0 {
                    return Err(EntityError::invalid(format!(
                        "table `{}` does not support idle timeout",
                        table.name
                    )));
                }
                let stored_entry = p4::TableEntry {
                    table_id: table.id,
                    r#match: matches,
                    action: Some(proto_action),
                    priority: e.priority,
                    metadata: e.metadata.clone(),
                    ..Default::default()
                };
                let Some(ts) = self.tables.get_mut(&table.id) else {
                    return Err(EntityError::invalid("table state missing"));
                };
                let previous = ts.entries.remove(&key);
                let counter = e
                    .counter_data
                    .or_else(|| previous.as_ref().map(|p| p.counter))
                    .unwrap_or_default();
                let meter = e
                    .meter_config
                    .or_else(|| previous.as_ref().and_then(|p| p.meter));
                ts.entries.insert(
                    key,
                    StoredEntry {
                        entry: stored_entry,
                        action,
                        counter,
                        meter,
                        bucket: None,
                        colors: p4::MeterCounterData::default(),
                    },
                );
                Ok(())
            }
            U::Unspecified => Err(EntityError::invalid("update type unspecified")),
        }
    }

    /// The stored entry addressed by `e` (table id, match, priority), for direct resources.
    pub fn find_entry_mut(&mut self, e: &p4::TableEntry) -> Result<&mut StoredEntry, EntityError> {
        let table = self.table(e.table_id)?.clone();
        let (key, _) = match_key(&table, e)?;
        self.tables
            .get_mut(&table.id)
            .and_then(|ts| ts.entries.get_mut(&key))
            .ok_or_else(|| {
                EntityError::not_found(format!(
                    "table `{}`: no entry with this match and priority",
                    table.name
                ))
            })
    }
}
