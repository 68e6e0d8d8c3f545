//! Read semantics (P4Runtime spec §11.1): a zero id is a wildcard over that entity kind (table_id 0:
//! all tables; counter_id 0: all counters; no index: every cell), an empty match reads every entry
//! of the table. Byte strings are returned canonical (they are stored canonical).

use std::collections::BTreeMap;

use prescient_southbound::p4runtime::proto::p4::v1 as p4;

use super::error::EntityError;
use super::state::DeviceState;
use super::table::match_key;

/// The cells of indexed arrays a read selects: id 0 is every array, no index every cell (module
/// docs); an unknown id is refused.
fn cells<'a, T>(
    arrays: &'a BTreeMap<u32, Vec<T>>,
    id: u32,
    index: Option<p4::Index>,
    kind: &str,
) -> Result<Vec<(u32, i64, &'a T)>, EntityError> {
    if id != 0 && !arrays.contains_key(&id) {
        return Err(EntityError::invalid(format!(
            "unknown {kind} id {id:#010x}"
        )));
    }
    Ok(arrays
        .iter()
        .filter(|(a, _)| id == 0 || **a == id)
        .flat_map(|(a, values)| {
            values
                .iter()
                .enumerate()
                .map(move |(i, v)| (*a, i as i64, v))
        })
        .filter(|(_, i, _)| index.is_none_or(|x| x.index == *i))
        .collect())
}

fn wrap(e: p4::entity::Entity) -> p4::Entity {
    p4::Entity { entity: Some(e) }
}

impl DeviceState {
    /// The entities matching the read filter `entity`.
    pub fn read(&self, entity: &p4::Entity) -> Result<Vec<p4::Entity>, EntityError> {
        use p4::entity::Entity as E;
        let Some(e) = &entity.entity else {
            return Err(EntityError::invalid("read of an empty entity"));
        };
        let mut out = Vec::new();
        match e {
            E::TableEntry(f) => {
                for te in self.read_table_entries(f)? {
                    out.push(wrap(E::TableEntry(te)));
                }
            }
            E::DirectCounterEntry(f) => {
                let filter = p4::TableEntry {
                    counter_data: Some(p4::CounterData::default()),
                    ..f.table_entry.clone().unwrap_or_default()
                };
                for te in self.read_table_entries(&filter)? {
                    let has = self
                        .schema
                        .tables
                        .get(&te.table_id)
                        .is_some_and(|t| t.direct_counter.is_some());
                    if has && !te.is_default_action {
                        let data = te.counter_data;
                        let table_entry = p4::TableEntry {
                            counter_data: None,
                            ..te
                        };
                        out.push(wrap(E::DirectCounterEntry(p4::DirectCounterEntry {
                            table_entry: Some(table_entry),
                            data,
                        })));
                    }
                }
            }
            E::DirectMeterEntry(f) => {
                let filter = p4::TableEntry {
                    meter_config: Some(p4::MeterConfig::default()),
                    meter_counter_data: Some(p4::MeterCounterData::default()),
                    ..f.table_entry.clone().unwrap_or_default()
                };
                for te in self.read_table_entries(&filter)? {
                    let has = self
                        .schema
                        .tables
                        .get(&te.table_id)
                        .is_some_and(|t| t.direct_meter.is_some());
                    if has && !te.is_default_action {
                        let config = te.meter_config;
                        let counter_data = te.meter_counter_data;
                        let table_entry = p4::TableEntry {
                            meter_config: None,
                            counter_data: None,
                            meter_counter_data: None,
                            ..te
                        };
                        out.push(wrap(E::DirectMeterEntry(p4::DirectMeterEntry {
                            table_entry: Some(table_entry),
                            config,
                            counter_data,
                        })));
                    }
                }
            }
            E::ActionProfileMember(f) => {
                for ((p, m), member) in &self.members {
                    if (f.action_profile_id == 0 || f.action_profile_id == *p)
                        && (f.member_id == 0 || f.member_id == *m)
                    {
                        out.push(wrap(E::ActionProfileMember(p4::ActionProfileMember {
                            action_profile_id: *p,
                            member_id: *m,
                            action: Some(member.proto.clone()),
                        })));
                    }
                }
            }
            E::ActionProfileGroup(f) => {
                for ((p, g), group) in &self.groups {
                    if (f.action_profile_id == 0 || f.action_profile_id == *p)
                        && (f.group_id == 0 || f.group_id == *g)
                    {
                        out.push(wrap(E::ActionProfileGroup(p4::ActionProfileGroup {
                            action_profile_id: *p,
                            group_id: *g,
                            members: group
                                .members
                                .iter()
                                .map(|(m, w)| p4::action_profile_group::Member {
                                    member_id: *m,
                                    weight: i32::try_from(*w).unwrap_or(i32::MAX),
                                    watch_kind: None,
                                })
                                .collect(),
                            max_size: group.max_size,
                        })));
                    }
                }
            }
            E::CounterEntry(f) => {
                for (id, i, data) in cells(&self.counters, f.counter_id, f.index, "counter")? {
                    out.push(wrap(E::CounterEntry(p4::CounterEntry {
                        counter_id: id,
                        index: Some(p4::Index { index: i }),
                        data: Some(*data),
                    })));
                }
            }
            E::MeterEntry(f) => {
                for (id, i, config) in cells(&self.meters, f.meter_id, f.index, "meter")? {
                    out.push(wrap(E::MeterEntry(p4::MeterEntry {
                        meter_id: id,
                        index: Some(p4::Index { index: i }),
                        config: *config,
                        counter_data: None,
                    })));
                }
            }
            E::PacketReplicationEngineEntry(f) => {
                use p4::packet_replication_engine_entry::Type as P;
                let pre = |t| {
                    wrap(E::PacketReplicationEngineEntry(
                        p4::PacketReplicationEngineEntry { r#type: Some(t) },
                    ))
                };
                match &f.r#type {
                    Some(P::MulticastGroupEntry(g)) => out.extend(
                        self.multicast
                            .iter()
                            .filter(|(id, _)| {
                                g.multicast_group_id == 0 || g.multicast_group_id == **id
                            })
                            .map(|(_, v)| pre(P::MulticastGroupEntry(v.clone()))),
                    ),
                    Some(P::CloneSessionEntry(c)) => out.extend(
                        self.clone_sessions
                            .iter()
                            .filter(|(id, _)| c.session_id == 0 || c.session_id == **id)
                            .map(|(_, v)| pre(P::CloneSessionEntry(v.clone()))),
                    ),
                    None => {
                        return Err(EntityError::invalid(
                            "packet replication read without a type",
                        ))
                    }
                }
            }
            E::DigestEntry(f) => {
                for (id, config) in &self.digests {
                    if f.digest_id == 0 || f.digest_id == *id {
                        out.push(wrap(E::DigestEntry(p4::DigestEntry {
                            digest_id: *id,
                            config: Some(*config),
                        })));
                    }
                }
            }
            E::ExternEntry(_) | E::ValueSetEntry(_) | E::RegisterEntry(_) => {
                return Err(EntityError::unimplemented(
                    "extern, value set and register reads are not supported by this target",
                ));
            }
        }
        Ok(out)
    }

    /// Table entries matching filter `f`, with direct counter data and meter config attached.
    fn read_table_entries(&self, f: &p4::TableEntry) -> Result<Vec<p4::TableEntry>, EntityError> {
        if f.table_id != 0 && !self.schema.tables.contains_key(&f.table_id) {
            return Err(EntityError::invalid(format!(
                "unknown table id {:#010x}",
                f.table_id
            )));
        }
        let mut out = Vec::new();
        for (id, ts) in &self.tables {
            if f.table_id != 0 && f.table_id != *id {
                continue;
            }
            let Some(info) = self.schema.tables.get(id) else {
                continue;
            };
            if f.is_default_action {
                if let Some((_, action)) = &ts.default {
                    out.push(p4::TableEntry {
                        table_id: *id,
                        action: Some(p4::TableAction {
                            r#type: Some(p4::table_action::Type::Action(action.clone())),
                        }),
                        is_default_action: true,
                        ..Default::default()
                    });
                }
                continue;
            }
            let key = if f.r#match.is_empty() {
                None
            } else {
                Some(match_key(info, f)?.0)
            };
            for (k, stored) in &ts.entries {
                if key.as_ref().is_some_and(|key| key != k) {
                    continue;
                }
                let mut e = stored.entry.clone();
                // As BMv2 (PI) does: direct counters, a direct meter's config and its colour
                // counts come back only when the read asks for them.
                if info.direct_counter.is_some() && f.counter_data.is_some() {
                    e.counter_data = Some(stored.counter);
                }
                if info.direct_meter.is_some() {
                    if f.meter_config.is_some() {
                        e.meter_config = stored.meter;
                    }
                    if f.meter_counter_data.is_some() {
                        e.meter_counter_data = Some(stored.colors);
                    }
                }
                out.push(e);
            }
        }
        Ok(out)
    }
}
