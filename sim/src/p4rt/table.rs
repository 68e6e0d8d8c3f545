//! Table entries: validation of a `p4.v1.TableEntry` against the schema (P4Runtime spec §9.1),
//! the canonical match key entries are stored under, and the match semantics used by `process`.
//!
//! Invariants: a stored key holds one value per present field, sorted by field id, each within
//! its field's width, with don't-care bits zero (ternary value & !mask == 0, LPM bits past the
//! prefix zero); omitted fields are wildcards. A key's stored `TableEntry` has canonical bytes.

use prescient_southbound::p4runtime::proto::google::rpc::Code;
use prescient_southbound::p4runtime::proto::p4::v1 as p4;

use super::bytes::{self, full_mask};
use super::error::EntityError;
use super::schema::{ActionScope, MatchKind, Schema, TableInfo};

/// One field's match, decoded.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FieldValue {
    /// Exact value.
    Exact(u128),
    /// Prefix of `len` bits.
    Lpm {
        /// Value with bits past the prefix zero.
        value: u128,
        /// Prefix length.
        len: u32,
    },
    /// Value under mask.
    Ternary {
        /// Value (only masked bits set).
        value: u128,
        /// Mask.
        mask: u128,
    },
    /// Inclusive range.
    Range {
        /// Low bound.
        low: u128,
        /// High bound.
        high: u128,
    },
    /// Exact when present.
    Optional(u128),
}

impl FieldValue {
    /// Whether a packet field value `v` matches.
    pub fn matches(&self, v: u128, bitwidth: u32) -> bool {
        match self {
            FieldValue::Exact(x) | FieldValue::Optional(x) => v == *x,
            FieldValue::Lpm { value, len } => {
                let mask = full_mask(bitwidth) & !full_mask(bitwidth.saturating_sub(*len));
                v & mask == *value
            }
            FieldValue::Ternary { value, mask } => v & mask == *value,
            FieldValue::Range { low, high } => (*low..=*high).contains(&v),
        }
    }
}

/// The identity of an entry within its table: present fields and priority.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MatchKey {
    /// `(field id, value)` sorted by field id; omitted fields are wildcards.
    pub fields: Vec<(u32, FieldValue)>,
    /// Priority (0 for tables without ternary/range/optional fields).
    pub priority: i32,
}

impl MatchKey {
    /// Longest prefix length among LPM fields (for LPM ordering).
    pub fn prefix_len(&self) -> u32 {
        self.fields
            .iter()
            .map(|(_, f)| {
                if let FieldValue::Lpm { len, .. } = f {
                    *len
                } else {
                    0
                }
            })
            .max()
            .unwrap_or(0)
    }
}

/// A decoded action with parameter values in P4Info order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundAction {
    /// Action id.
    pub id: u32,
    /// Parameter values in the action's P4Info order.
    pub params: Vec<u128>,
}

/// What an entry does when hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryAction {
    /// A direct action.
    Direct(BoundAction),
    /// An action profile member.
    Member(u32),
    /// An action profile group.
    Group(u32),
    /// A one-shot action set: `(action, weight)`.
    OneShot(Vec<(BoundAction, u32)>),
}

fn field_error(table: &TableInfo, field: &str, why: impl std::fmt::Display) -> EntityError {
    EntityError::invalid(format!("table `{}` field `{field}`: {why}", table.name))
}

/// Decodes and checks the match of `entry`, returning the key and the entry with canonical bytes.
pub fn match_key(
    table: &TableInfo,
    entry: &p4::TableEntry,
) -> Result<(MatchKey, Vec<p4::FieldMatch>), EntityError> {
    use p4::field_match::FieldMatchType as M;
    let mut fields = Vec::with_capacity(entry.r#match.len());
    let mut canonical = Vec::with_capacity(entry.r#match.len());
    for fm in &entry.r#match {
        let Some(info) = table.fields.iter().find(|f| f.id == fm.field_id) else {
            return Err(EntityError::invalid(format!(
                "table `{}` has no match field id {}",
                table.name, fm.field_id
            )));
        };
        if fields.iter().any(|(id, _)| *id == fm.field_id) {
            return Err(field_error(table, &info.name, "appears twice"));
        }
        let w = info.bitwidth;
        let dec = |b: &[u8]| bytes::decode(b, w).map_err(|e| field_error(table, &info.name, e));
        let (value, canon) = match (&info.kind, &fm.field_match_type) {
            (MatchKind::Exact, Some(M::Exact(e))) => {
                let v = dec(&e.value)?;
                (
                    FieldValue::Exact(v),
                    M::Exact(p4::field_match::Exact {
                        value: bytes::encode(v),
                    }),
                )
            }
            (MatchKind::Lpm, Some(M::Lpm(l))) => {
                let len = u32::try_from(l.prefix_len)
                    .ok()
                    .filter(|len| *len <= w)
                    .ok_or_else(|| {
                        field_error(
                            table,
                            &info.name,
                            format!("prefix length {} outside 0..={w}", l.prefix_len),
                        )
                    })?;
                if len == 0 {
                    return Err(field_error(
                        table,
                        &info.name,
                        "prefix length 0 must be omitted (wildcard)",
                    ));
                }
                let v = dec(&l.value)?;
                if v & full_mask(w.saturating_sub(len)) != 0 {
                    return Err(field_error(
                        table,
                        &info.name,
                        format!("value 0x{v:x} has bits set past the /{len} prefix"),
                    ));
                }
                (
                    FieldValue::Lpm { value: v, len },
                    M::Lpm(p4::field_match::Lpm {
                        value: bytes::encode(v),
                        prefix_len: l.prefix_len,
                    }),
                )
            }
            (MatchKind::Ternary, Some(M::Ternary(t))) => {
                let v = dec(&t.value)?;
                let m = dec(&t.mask)?;
                if m == 0 {
                    return Err(field_error(
                        table,
                        &info.name,
                        "mask 0 must be omitted (wildcard)",
                    ));
                }
                if v & !m != 0 {
                    return Err(field_error(
                        table,
                        &info.name,
                        format!("value 0x{v:x} has bits outside mask 0x{m:x}"),
                    ));
                }
                (
                    FieldValue::Ternary { value: v, mask: m },
                    M::Ternary(p4::field_match::Ternary {
                        value: bytes::encode(v),
                        mask: bytes::encode(m),
                    }),
                )
            }
            (MatchKind::Range, Some(M::Range(r))) => {
                let (low, high) = (dec(&r.low)?, dec(&r.high)?);
                if low > high {
                    return Err(field_error(
                        table,
                        &info.name,
                        format!("range low 0x{low:x} > high 0x{high:x}"),
                    ));
                }
                if low == 0 && high == full_mask(w) {
                    return Err(field_error(
                        table,
                        &info.name,
                        "full range must be omitted (wildcard)",
                    ));
                }
                (
                    FieldValue::Range { low, high },
                    M::Range(p4::field_match::Range {
                        low: bytes::encode(low),
                        high: bytes::encode(high),
                    }),
                )
            }
            (MatchKind::Optional, Some(M::Optional(o))) => {
                let v = dec(&o.value)?;
                (
                    FieldValue::Optional(v),
                    M::Optional(p4::field_match::Optional {
                        value: bytes::encode(v),
                    }),
                )
            }
            (kind, got) => {
                let got = match got {
                    Some(M::Exact(_)) => "exact",
                    Some(M::Lpm(_)) => "lpm",
                    Some(M::Ternary(_)) => "ternary",
                    Some(M::Range(_)) => "range",
                    Some(M::Optional(_)) => "optional",
                    Some(M::Other(_)) => "other",
                    None => "nothing",
                };
                return Err(field_error(
                    table,
                    &info.name,
                    format!("match kind {got} sent, the field is {kind:?}"),
                ));
            }
        };
        fields.push((fm.field_id, value));
        canonical.push(p4::FieldMatch {
            field_id: fm.field_id,
            field_match_type: Some(canon),
        });
    }
    for f in &table.fields {
        if f.kind == MatchKind::Exact && !fields.iter().any(|(id, _)| *id == f.id) {
            return Err(field_error(
                table,
                &f.name,
                "exact fields cannot be omitted",
            ));
        }
    }
    if table.needs_priority() {
        if entry.priority <= 0 {
            return Err(EntityError::invalid(format!(
                "table `{}` has ternary/range/optional fields: priority must be > 0, got {}",
                table.name, entry.priority
            )));
        }
    } else if entry.priority != 0 {
        return Err(EntityError::invalid(format!(
            "table `{}` has only exact/lpm fields: priority must be 0, got {}",
            table.name, entry.priority
        )));
    }
    if fields
        .iter()
        .filter(|(_, f)| matches!(f, FieldValue::Lpm { .. }))
        .count()
        > 1
    {
        return Err(EntityError::invalid(format!(
            "table `{}`: more than one LPM field",
            table.name
        )));
    }
    fields.sort_by_key(|(id, _)| *id);
    canonical.sort_by_key(|f| f.field_id);
    Ok((
        MatchKey {
            fields,
            priority: entry.priority,
        },
        canonical,
    ))
}

/// Decodes `action`, checking it exists, is allowed in `table` in this `scope`, and its parameters.
pub fn bind_action(
    schema: &Schema,
    table: Option<&TableInfo>,
    action: &p4::Action,
    as_default: bool,
) -> Result<(BoundAction, p4::Action), EntityError> {
    let Some(info) = schema.actions.get(&action.action_id) else {
        return Err(EntityError::invalid(format!(
            "unknown action id {:#010x}",
            action.action_id
        )));
    };
    if let Some(t) = table {
        match t.action_scope(action.action_id) {
            None => {
                return Err(EntityError::invalid(format!(
                    "action `{}` is not an action of table `{}`",
                    info.name, t.name
                )))
            }
            // PERMISSION_DENIED, as PI answers a scope violation.
            Some(ActionScope::DefaultOnly) if !as_default => {
                return Err(EntityError::new(
                    Code::PermissionDenied,
                    format!(
                        "action `{}` is default-only in table `{}`",
                        info.name, t.name
                    ),
                ))
            }
            Some(ActionScope::TableOnly) if as_default => {
                return Err(EntityError::new(
                    Code::PermissionDenied,
                    format!(
                        "action `{}` cannot be the default of table `{}`",
                        info.name, t.name
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    if action.params.len() != info.params.len() {
        return Err(EntityError::invalid(format!(
            "action `{}` takes {} parameters, {} sent",
            info.name,
            info.params.len(),
            action.params.len()
        )));
    }
    let mut values = Vec::with_capacity(info.params.len());
    let mut canonical = Vec::with_capacity(info.params.len());
    for (pid, pname, w) in &info.params {
        let Some(p) = action.params.iter().find(|p| p.param_id == *pid) else {
            return Err(EntityError::invalid(format!(
                "action `{}` parameter `{pname}` (id {pid}) missing",
                info.name
            )));
        };
        let v = bytes::decode(&p.value, *w).map_err(|e| {
            EntityError::invalid(format!("action `{}` parameter `{pname}`: {e}", info.name))
        })?;
        values.push(v);
        canonical.push(p4::action::Param {
            param_id: *pid,
            value: bytes::encode(v),
        });
    }
    Ok((
        BoundAction {
            id: info.id,
            params: values,
        },
        p4::Action {
            action_id: info.id,
            params: canonical,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p4rt::schema::prescient_p4info;
    use p4::field_match::FieldMatchType as M;

    fn schema() -> Schema {
        Schema::from_p4info(&prescient_p4info().unwrap()).unwrap()
    }

    fn lpm(v: &[u8], len: i32) -> p4::FieldMatch {
        p4::FieldMatch {
            field_id: 1,
            field_match_type: Some(M::Lpm(p4::field_match::Lpm {
                value: v.to_vec(),
                prefix_len: len,
            })),
        }
    }

    #[test]
    fn lpm_key_is_canonical_and_checked() {
        let s = schema();
        let t = s.table_by_name("PrescientIngress.ipv4_lpm").unwrap();
        let e = p4::TableEntry {
            table_id: t.id,
            r#match: vec![lpm(&[0, 0, 10, 0, 0, 0], 8)],
            ..Default::default()
        };
        let (key, canon) = match_key(t, &e).unwrap();
        assert_eq!(
            key.fields,
            vec![(
                1,
                FieldValue::Lpm {
                    value: 0x0a00_0000,
                    len: 8
                }
            )]
        );
        assert_eq!(canon[0], lpm(&[10, 0, 0, 0], 8));
        assert!(key.fields[0].1.matches(0x0a01_0203, 32));
        assert!(!key.fields[0].1.matches(0x0b00_0000, 32));

        let bad = p4::TableEntry {
            r#match: vec![lpm(&[10, 0, 0, 1], 8)],
            ..e.clone()
        };
        assert!(match_key(t, &bad)
            .unwrap_err()
            .message
            .contains("past the /8 prefix"));
        let zero = p4::TableEntry {
            r#match: vec![lpm(&[0], 0)],
            ..e.clone()
        };
        assert!(match_key(t, &zero)
            .unwrap_err()
            .message
            .contains("must be omitted"));
        let prio = p4::TableEntry { priority: 5, ..e };
        assert!(match_key(t, &prio)
            .unwrap_err()
            .message
            .contains("priority must be 0"));
    }

    #[test]
    fn ternary_needs_priority_and_clean_value() {
        let s = schema();
        let t = s.table_by_name("PrescientIngress.acl").unwrap();
        let ether = |v: &[u8], m: &[u8]| p4::FieldMatch {
            field_id: 4,
            field_match_type: Some(M::Ternary(p4::field_match::Ternary {
                value: v.to_vec(),
                mask: m.to_vec(),
            })),
        };
        let e = p4::TableEntry {
            table_id: t.id,
            r#match: vec![ether(&[0x88, 0xcc], &[0xff, 0xff])],
            ..Default::default()
        };
        assert!(match_key(t, &e)
            .unwrap_err()
            .message
            .contains("priority must be > 0"));
        let ok = p4::TableEntry {
            priority: 10,
            ..e.clone()
        };
        assert!(match_key(t, &ok).is_ok());
        let dirty = p4::TableEntry {
            priority: 10,
            r#match: vec![ether(&[0x88, 0xcd], &[0xff, 0x00])],
            ..e.clone()
        };
        assert!(match_key(t, &dirty)
            .unwrap_err()
            .message
            .contains("outside mask"));
        let wide = p4::TableEntry {
            priority: 10,
            r#match: vec![ether(&[1, 0x88, 0xcc], &[0xff, 0xff])],
            ..e
        };
        assert!(match_key(t, &wide)
            .unwrap_err()
            .message
            .contains("does not fit in 16 bits"));
    }

    #[test]
    fn wrong_kind_and_missing_exact_are_refused() {
        let s = schema();
        let t = s.table_by_name("PrescientIngress.translate_dst").unwrap();
        let e = p4::TableEntry {
            table_id: t.id,
            r#match: vec![lpm(&[10, 0, 0, 1], 32)],
            ..Default::default()
        };
        assert!(match_key(t, &e)
            .unwrap_err()
            .message
            .contains("match kind lpm sent"));
        let empty = p4::TableEntry {
            table_id: t.id,
            ..Default::default()
        };
        assert!(match_key(t, &empty)
            .unwrap_err()
            .message
            .contains("cannot be omitted"));
    }

    #[test]
    fn action_params_and_scope_are_checked() {
        let s = schema();
        let t = s.table_by_name("PrescientIngress.ipv4_lpm").unwrap();
        let fwd = s.action_by_name("PrescientIngress.forward").unwrap().id;
        let param = |id, v: &[u8]| p4::action::Param {
            param_id: id,
            value: v.to_vec(),
        };
        let a = p4::Action {
            action_id: fwd,
            params: vec![param(1, &[0, 3]), param(2, &[0; 6]), param(3, &[1; 6])],
        };
        let (bound, canon) = bind_action(&s, Some(t), &a, false).unwrap();
        assert_eq!(bound.params[0], 3);
        assert_eq!(canon.params[0].value, vec![3]);
        let wide = p4::Action {
            params: vec![param(1, &[2, 0]), param(2, &[0]), param(3, &[0])],
            ..a.clone()
        };
        assert!(bind_action(&s, Some(t), &wide, false)
            .unwrap_err()
            .message
            .contains("`port`"));
        let short = p4::Action {
            params: vec![param(1, &[1])],
            ..a
        };
        assert!(bind_action(&s, Some(t), &short, false).is_err());
        let sel = s.table_by_name("PrescientIngress.service_select").unwrap();
        let noaction = s.action_by_name("NoAction").unwrap().id;
        let na = p4::Action {
            action_id: noaction,
            params: vec![],
        };
        assert!(bind_action(&s, Some(sel), &na, false)
            .unwrap_err()
            .message
            .contains("default-only"));
        assert!(bind_action(&s, Some(sel), &na, true).is_ok());
    }
}
