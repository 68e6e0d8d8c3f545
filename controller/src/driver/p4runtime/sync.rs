//! The driver's mirror of the tables it owns on one device, and the diff that brings the device
//! to the desired entries (ONOS' flow-rule mirror idea: the mirror decides INSERT vs MODIFY).
//!
//! Invariant: the mirror holds exactly the entries the device confirmed — written by an update
//! the target applied, or read back from it — keyed by table, match and priority. Updates the
//! target refused leave it unchanged, so the next reconciliation tries them again. An INSERT
//! refused as ALREADY_EXISTS is retried as MODIFY, a MODIFY refused as NOT_FOUND as INSERT, and
//! a DELETE refused as NOT_FOUND counts as done (P4Runtime spec §12.3 codes).

use std::collections::BTreeMap;

use prescient_southbound::p4runtime::proto::p4::v1 as p4;
use prescient_southbound::p4runtime::WriteError;
use prost::Message;

use p4::update::Type;

/// Identity of a table entry: table id, matches sorted by field id, priority.
pub fn entry_key(t: &p4::TableEntry) -> Vec<u8> {
    let mut m = t.r#match.clone();
    m.sort_by_key(|f| f.field_id);
    p4::TableEntry {
        table_id: t.table_id,
        r#match: m,
        priority: t.priority,
        ..Default::default()
    }
    .encode_to_vec()
}

fn update(op: Type, entry: p4::TableEntry) -> p4::Update {
    p4::Update {
        r#type: op as i32,
        entity: Some(p4::Entity {
            entity: Some(p4::entity::Entity::TableEntry(entry)),
        }),
    }
}

fn entry_of(u: &p4::Update) -> Option<&p4::TableEntry> {
    match u.entity.as_ref()?.entity.as_ref()? {
        p4::entity::Entity::TableEntry(t) => Some(t),
        _ => None,
    }
}

/// The entries of the owned tables the device holds, as far as the driver knows.
#[derive(Debug, Clone, Default)]
pub struct Mirror {
    entries: BTreeMap<Vec<u8>, p4::TableEntry>,
}

impl Mirror {
    /// An empty mirror (a device with nothing of ours).
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the mirror with entries read back from the device.
    pub fn reset(&mut self, read: Vec<p4::TableEntry>) {
        self.entries = read
            .into_iter()
            .map(|mut t| {
                // Counter values and meter colours are data, not configuration.
                t.counter_data = None;
                t.meter_counter_data = None;
                (entry_key(&t), t)
            })
            .collect();
    }

    /// The entries held.
    pub fn entries(&self) -> impl Iterator<Item = &p4::TableEntry> {
        self.entries.values()
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The updates that turn the mirrored content into `desired` (keyed by [`entry_key`]):
    /// deletions first, so a full table makes room before insertions.
    pub fn diff(&self, desired: &BTreeMap<Vec<u8>, p4::TableEntry>) -> Vec<p4::Update> {
        let mut out = Vec::new();
        for (k, have) in &self.entries {
            if !desired.contains_key(k) {
                let key = p4::TableEntry {
                    table_id: have.table_id,
                    r#match: have.r#match.clone(),
                    priority: have.priority,
                    ..Default::default()
                };
                out.push(update(Type::Delete, key));
            }
        }
        for (k, want) in desired {
            match self.entries.get(k) {
                Some(have) if have == want => {}
                Some(_) => out.push(update(Type::Modify, want.clone())),
                None => out.push(update(Type::Insert, want.clone())),
            }
        }
        out
    }

    /// Records an update the target applied.
    pub fn record(&mut self, u: &p4::Update) {
        let Some(t) = entry_of(u) else {
            return;
        };
        match Type::try_from(u.r#type) {
            Ok(Type::Insert) | Ok(Type::Modify) => {
                self.entries.insert(entry_key(t), t.clone());
            }
            Ok(Type::Delete) => {
                self.entries.remove(&entry_key(t));
            }
            _ => {}
        }
    }

    /// Folds a refused batch in: applied updates are recorded, a delete of something already
    /// gone is forgotten, and the updates worth one retry (insert of an existing entry as
    /// MODIFY, modify of a missing one as INSERT) are returned. Other failures are left for the
    /// next reconciliation.
    pub fn settle(&mut self, sent: &[p4::Update], err: &WriteError) -> Vec<p4::Update> {
        for (u, applied) in sent.iter().zip(&err.applied) {
            if *applied {
                self.record(u);
            }
        }
        let mut retry = Vec::new();
        for f in &err.failures {
            let Some(u) = sent.get(f.index) else {
                continue;
            };
            match (Type::try_from(u.r#type), f.code) {
                (Ok(Type::Insert), tonic::Code::AlreadyExists) => {
                    let mut u = u.clone();
                    u.r#type = Type::Modify as i32;
                    retry.push(u);
                }
                (Ok(Type::Modify), tonic::Code::NotFound) => {
                    let mut u = u.clone();
                    u.r#type = Type::Insert as i32;
                    retry.push(u);
                }
                (Ok(Type::Delete), tonic::Code::NotFound) => self.record(u),
                _ => {}
            }
        }
        retry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(table: u32, value: u8, param: u8) -> p4::TableEntry {
        p4::TableEntry {
            table_id: table,
            r#match: vec![p4::FieldMatch {
                field_id: 1,
                field_match_type: Some(p4::field_match::FieldMatchType::Exact(
                    p4::field_match::Exact { value: vec![value] },
                )),
            }],
            action: Some(p4::TableAction {
                r#type: Some(p4::table_action::Type::Action(p4::Action {
                    action_id: 9,
                    params: vec![p4::action::Param {
                        param_id: 1,
                        value: vec![param],
                    }],
                })),
            }),
            ..Default::default()
        }
    }

    fn desired(entries: &[p4::TableEntry]) -> BTreeMap<Vec<u8>, p4::TableEntry> {
        entries.iter().map(|e| (entry_key(e), e.clone())).collect()
    }

    fn ops(updates: &[p4::Update]) -> Vec<Type> {
        updates
            .iter()
            .map(|u| Type::try_from(u.r#type).unwrap_or(Type::Unspecified))
            .collect()
    }

    #[test]
    fn the_diff_inserts_modifies_and_deletes_then_converges() {
        let mut m = Mirror::new();
        m.reset(vec![entry(1, 1, 1), entry(1, 2, 1)]);
        let want = desired(&[entry(1, 2, 7), entry(1, 3, 1)]);
        let updates = m.diff(&want);
        assert_eq!(
            ops(&updates),
            vec![Type::Delete, Type::Modify, Type::Insert]
        );
        let delete = entry_of(&updates[0]).expect("an entry");
        assert!(delete.action.is_none(), "a delete carries the key only");
        for u in &updates {
            m.record(u);
        }
        assert!(m.diff(&want).is_empty());
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn refused_updates_are_retried_the_right_way_or_left_for_later() {
        let mut m = Mirror::new();
        m.reset(vec![entry(1, 9, 1)]);
        let sent = vec![
            update(Type::Insert, entry(1, 1, 1)),
            update(Type::Insert, entry(1, 2, 1)),
            update(Type::Modify, entry(1, 3, 1)),
            update(Type::Delete, entry(1, 9, 1)),
            update(Type::Insert, entry(1, 4, 1)),
        ];
        let failure = |index, op, code| prescient_southbound::p4runtime::UpdateFailure {
            index,
            op,
            entity: String::new(),
            code,
            message: String::new(),
        };
        let err = WriteError {
            batch_len: 5,
            code: tonic::Code::Unknown,
            message: String::new(),
            failures: vec![
                failure(1, Type::Insert, tonic::Code::AlreadyExists),
                failure(2, Type::Modify, tonic::Code::NotFound),
                failure(3, Type::Delete, tonic::Code::NotFound),
                failure(4, Type::Insert, tonic::Code::ResourceExhausted),
            ],
            applied: vec![true, false, false, false, false],
        };
        let retry = m.settle(&sent, &err);
        assert_eq!(ops(&retry), vec![Type::Modify, Type::Insert]);
        // Entry 1 applied, entry 9 gone; entry 4 (table full) is not mirrored, so it is
        // inserted again next time.
        assert_eq!(m.len(), 1);
        let next = m.diff(&desired(&[entry(1, 1, 1), entry(1, 4, 1)]));
        assert_eq!(ops(&next), vec![Type::Insert]);
    }
}
