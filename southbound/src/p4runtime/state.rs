//! The desired state of one device: every entity the controller has successfully written,
//! keyed by its identity, so that it can be replayed after the target restarts (the
//! controller's copy is the truth; the switch holds a cache). ONOS' flow-rule store idea.
//!
//! Keys: table entries by (table, sorted match, priority, default flag); members and groups by
//! (profile, id); meters by (meter, index); direct meters by their table entry key; multicast
//! groups and clone sessions by id. Replay order puts members before groups before table
//! entries before direct/indexed resources, so references resolve on the target.
//! Counter values are data, not configuration, and are never stored.

use std::collections::BTreeMap;

use prost::Message;

use super::proto::p4::v1 as p4;

/// Replay rank; lower ranks are replayed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Replication,
    Member,
    Group,
    Table,
    Resource,
}

/// Desired entities of one device.
#[derive(Debug, Clone, Default)]
pub struct DesiredState {
    entities: BTreeMap<(Rank, Vec<u8>), p4::Entity>,
}

fn table_key(t: &p4::TableEntry) -> Vec<u8> {
    let mut m = t.r#match.clone();
    m.sort_by_key(|f| f.field_id);
    p4::TableEntry {
        table_id: t.table_id,
        r#match: m,
        priority: t.priority,
        is_default_action: t.is_default_action,
        ..Default::default()
    }
    .encode_to_vec()
}

fn key(entity: &p4::Entity) -> Option<(Rank, Vec<u8>)> {
    use p4::entity::Entity as E;
    let (rank, bytes) = match entity.entity.as_ref()? {
        E::TableEntry(t) => (Rank::Table, table_key(t)),
        E::ActionProfileMember(m) => (
            Rank::Member,
            [m.action_profile_id.to_be_bytes(), m.member_id.to_be_bytes()].concat(),
        ),
        E::ActionProfileGroup(g) => (
            Rank::Group,
            [g.action_profile_id.to_be_bytes(), g.group_id.to_be_bytes()].concat(),
        ),
        E::MeterEntry(m) => {
            let mut k = vec![b'm'];
            k.extend(m.meter_id.to_be_bytes());
            k.extend(m.index.map(|i| i.index).unwrap_or(-1).to_be_bytes());
            (Rank::Resource, k)
        }
        E::DirectMeterEntry(d) => {
            let mut k = vec![b'd'];
            k.extend(table_key(d.table_entry.as_ref()?));
            (Rank::Resource, k)
        }
        E::PacketReplicationEngineEntry(p) => {
            use p4::packet_replication_engine_entry::Type;
            match p.r#type.as_ref()? {
                Type::MulticastGroupEntry(m) => (
                    Rank::Replication,
                    [b'm']
                        .into_iter()
                        .chain(m.multicast_group_id.to_be_bytes())
                        .collect(),
                ),
                Type::CloneSessionEntry(c) => (
                    Rank::Replication,
                    [b'c']
                        .into_iter()
                        .chain(c.session_id.to_be_bytes())
                        .collect(),
                ),
            }
        }
        // Counter values and the rest are not configuration the controller owns.
        _ => return None,
    };
    Some((rank, bytes))
}

impl DesiredState {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an update that the target applied.
    pub fn apply(&mut self, update: &p4::Update) {
        let Some(entity) = update.entity.as_ref() else {
            return;
        };
        let Some(k) = key(entity) else {
            return;
        };
        match p4::update::Type::try_from(update.r#type) {
            Ok(p4::update::Type::Insert) | Ok(p4::update::Type::Modify) => {
                // A direct-meter MODIFY belongs with its table entry; the entry itself is
                // stored separately, so both are replayed (entry first by rank).
                self.entities.insert(k, entity.clone());
            }
            Ok(p4::update::Type::Delete) => {
                self.entities.remove(&k);
                // Deleting a table entry deletes its direct resources too.
                if let Some(p4::entity::Entity::TableEntry(t)) = entity.entity.as_ref() {
                    let mut dk = vec![b'd'];
                    dk.extend(table_key(t));
                    self.entities.remove(&(Rank::Resource, dk));
                }
            }
            _ => {}
        }
    }

    /// Number of stored entities.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// Forgets everything (e.g. after a pipeline change invalidated the ids).
    pub fn clear(&mut self) {
        self.entities.clear();
    }

    /// The updates that recreate the desired state on an empty target, in replay order.
    /// Default entries, meters and direct meters are MODIFY (they always exist); the rest INSERT.
    pub fn replay_updates(&self) -> Vec<p4::Update> {
        use p4::entity::Entity as E;
        self.entities
            .values()
            .map(|e| {
                let modify = match e.entity.as_ref() {
                    Some(E::TableEntry(t)) => t.is_default_action,
                    Some(E::MeterEntry(_)) | Some(E::DirectMeterEntry(_)) => true,
                    _ => false,
                };
                p4::Update {
                    r#type: if modify {
                        p4::update::Type::Modify
                    } else {
                        p4::update::Type::Insert
                    } as i32,
                    entity: Some(e.clone()),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p4::entity::Entity as E;

    fn entry(table: u32, value: u8, priority: i32) -> p4::Entity {
        p4::Entity {
            entity: Some(E::TableEntry(p4::TableEntry {
                table_id: table,
                r#match: vec![p4::FieldMatch {
                    field_id: 1,
                    field_match_type: Some(p4::field_match::FieldMatchType::Exact(
                        p4::field_match::Exact { value: vec![value] },
                    )),
                }],
                priority,
                ..Default::default()
            })),
        }
    }

    fn update(t: p4::update::Type, e: p4::Entity) -> p4::Update {
        p4::Update {
            r#type: t as i32,
            entity: Some(e),
        }
    }

    #[test]
    fn insert_modify_delete_track_identity() {
        use p4::update::Type::*;
        let mut s = DesiredState::new();
        s.apply(&update(Insert, entry(1, 1, 0)));
        s.apply(&update(Insert, entry(1, 2, 0)));
        s.apply(&update(Modify, entry(1, 1, 0)));
        assert_eq!(s.len(), 2, "modify replaces, does not add");
        s.apply(&update(Delete, entry(1, 2, 0)));
        assert_eq!(s.len(), 1);
        s.apply(&update(Insert, entry(1, 1, 5)));
        assert_eq!(s.len(), 2, "priority is part of the key");
    }

    #[test]
    fn replay_puts_members_before_tables_and_skips_counters() {
        use p4::update::Type::*;
        let mut s = DesiredState::new();
        s.apply(&update(Insert, entry(1, 1, 0)));
        s.apply(&update(
            Insert,
            p4::Entity {
                entity: Some(E::ActionProfileMember(p4::ActionProfileMember {
                    action_profile_id: 9,
                    member_id: 1,
                    action: None,
                })),
            },
        ));
        s.apply(&update(
            Modify,
            p4::Entity {
                entity: Some(E::CounterEntry(p4::CounterEntry::default())),
            },
        ));
        let replay = s.replay_updates();
        assert_eq!(replay.len(), 2);
        assert!(matches!(
            replay[0].entity.as_ref().and_then(|e| e.entity.as_ref()),
            Some(E::ActionProfileMember(_))
        ));
        assert_eq!(replay[1].r#type, Insert as i32);
    }
}
