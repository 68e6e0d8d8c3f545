//! The pipeline's schema, indexed from a P4Info: what the emulated switch validates every entity
//! against. Invariant: every id in a `Schema` refers to an entry of the same `Schema` (checked in
//! [`Schema::from_p4info`]), so lookups by a validated id never fail later.
//!
//! The emulator runs prescient.p4 only; a pushed P4Info is accepted when it names the same tables,
//! actions and match fields as the embedded `p4/prescient.p4info.txt` (ids may differ: p4c derives
//! them, and the active P4Info's ids are the ones clients must use).

use std::collections::BTreeMap;

use prescient_southbound::p4runtime::proto::p4::config::v1 as p4info;
use prescient_southbound::p4runtime::proto::FILE_DESCRIPTOR_SET;
use prost_reflect::{DescriptorPool, DynamicMessage};

/// The P4Info of prescient.p4, in protobuf text format, as checked in.
pub const PRESCIENT_P4INFO_TEXT: &str = include_str!("../../../p4/prescient.p4info.txt");

/// Why a P4Info cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The text is not a P4Info in protobuf text format.
    #[error("P4Info text format: {0}")]
    Text(String),
    /// An entity refers to an id the P4Info does not define.
    #[error("P4Info {entity} `{name}` refers to unknown {kind} id {id:#010x}")]
    DanglingId {
        /// Kind of the referring entity (table, action profile, ...).
        entity: &'static str,
        /// Its name.
        name: String,
        /// Kind of the missing entity.
        kind: &'static str,
        /// The missing id.
        id: u32,
    },
    /// A field or parameter is wider than the emulator handles (128 bits).
    #[error("P4Info {entity} `{name}` has bit width {bitwidth}: the emulator supports 1..=128")]
    Width {
        /// Kind of entity.
        entity: &'static str,
        /// Its name.
        name: String,
        /// The width.
        bitwidth: i32,
    },
}

/// How a match field matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatchKind {
    /// Exact value.
    Exact,
    /// Longest prefix.
    Lpm,
    /// Value and mask.
    Ternary,
    /// Inclusive range.
    Range,
    /// Exact or wildcard.
    Optional,
    /// An architecture-specific kind, kept by name.
    Other(String),
}

/// One match field of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldInfo {
    /// Field id (unique within the table).
    pub id: u32,
    /// Field name, e.g. `hdr.ipv4.dst_addr`.
    pub name: String,
    /// Width in bits.
    pub bitwidth: u32,
    /// Match kind.
    pub kind: MatchKind,
}

/// Where an action may be used in a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionScope {
    /// In entries and as default.
    TableAndDefault,
    /// In entries only.
    TableOnly,
    /// As default only.
    DefaultOnly,
}

/// One table.
#[derive(Clone, Debug)]
pub struct TableInfo {
    /// Table id.
    pub id: u32,
    /// Fully qualified name.
    pub name: String,
    /// Match fields in P4Info order.
    pub fields: Vec<FieldInfo>,
    /// Allowed actions and their scopes.
    pub actions: Vec<(u32, ActionScope)>,
    /// Maximum number of entries.
    pub size: u64,
    /// Action profile or selector implementing the table, if indirect.
    pub implementation: Option<u32>,
    /// Direct counter attached, if any.
    pub direct_counter: Option<u32>,
    /// Direct meter attached, if any.
    pub direct_meter: Option<u32>,
    /// Default action that may not be changed, if any.
    pub const_default: Option<u32>,
}

impl TableInfo {
    /// Whether entries need a priority (ternary, range or optional fields present).
    pub fn needs_priority(&self) -> bool {
        self.fields.iter().any(|f| {
            matches!(
                f.kind,
                MatchKind::Ternary | MatchKind::Range | MatchKind::Optional
            )
        })
    }

    /// The scope of `action_id` in this table, if allowed at all.
    pub fn action_scope(&self, action_id: u32) -> Option<ActionScope> {
        self.actions
            .iter()
            .find(|(id, _)| *id == action_id)
            .map(|(_, s)| *s)
    }
}

/// One action and its parameters `(id, name, bitwidth)`.
#[derive(Clone, Debug)]
pub struct ActionInfo {
    /// Action id.
    pub id: u32,
    /// Fully qualified name.
    pub name: String,
    /// Parameters `(id, name, bitwidth)`.
    pub params: Vec<(u32, String, u32)>,
}

/// An action profile or selector.
#[derive(Clone, Debug)]
pub struct ProfileInfo {
    /// Profile id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Tables it implements.
    pub table_ids: Vec<u32>,
    /// Whether groups (a selector) are allowed.
    pub with_selector: bool,
    /// Maximum number of members.
    pub size: u64,
    /// Maximum members per group (0: no limit beyond `size`).
    pub max_group_size: u32,
}

/// An indexed counter or meter array.
#[derive(Clone, Debug)]
pub struct ArrayInfo {
    /// Id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Number of cells.
    pub size: u64,
}

/// The validated index of a P4Info.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    /// Tables by id.
    pub tables: BTreeMap<u32, TableInfo>,
    /// Actions by id.
    pub actions: BTreeMap<u32, ActionInfo>,
    /// Action profiles by id.
    pub profiles: BTreeMap<u32, ProfileInfo>,
    /// Indexed counters by id.
    pub counters: BTreeMap<u32, ArrayInfo>,
    /// Indexed meters by id.
    pub meters: BTreeMap<u32, ArrayInfo>,
    /// Direct counters: id → table id.
    pub direct_counters: BTreeMap<u32, u32>,
    /// Direct meters: id → table id.
    pub direct_meters: BTreeMap<u32, u32>,
    /// Controller header metadata by header name (`packet_in`, `packet_out`): `(id, name, bitwidth)`.
    pub packet_metadata: BTreeMap<String, Vec<(u32, String, u32)>>,
    /// Digests: id → name.
    pub digests: BTreeMap<u32, String>,
}

fn preamble(p: &Option<p4info::Preamble>) -> (u32, String) {
    p.as_ref()
        .map(|p| (p.id, p.name.clone()))
        .unwrap_or_default()
}

fn width(entity: &'static str, name: &str, bitwidth: i32) -> Result<u32, SchemaError> {
    match u32::try_from(bitwidth) {
        Ok(w @ 1..=128) => Ok(w),
        _ => Err(SchemaError::Width {
            entity,
            name: name.to_owned(),
            bitwidth,
        }),
    }
}

fn match_kind(field: &p4info::MatchField) -> MatchKind {
    use p4info::match_field::{Match, MatchType};
    match &field.r#match {
        Some(Match::MatchType(t)) => match MatchType::try_from(*t) {
            Ok(MatchType::Exact) => MatchKind::Exact,
            Ok(MatchType::Lpm) => MatchKind::Lpm,
            Ok(MatchType::Ternary) => MatchKind::Ternary,
            Ok(MatchType::Range) => MatchKind::Range,
            Ok(MatchType::Optional) => MatchKind::Optional,
            _ => MatchKind::Other(format!("match type {t}")),
        },
        Some(Match::OtherMatchType(s)) => MatchKind::Other(s.clone()),
        None => MatchKind::Other("unspecified".to_owned()),
    }
}

impl Schema {
    /// Indexes `info`, checking that every cross-reference resolves.
    pub fn from_p4info(info: &p4info::P4Info) -> Result<Self, SchemaError> {
        let mut s = Schema::default();
        for a in &info.actions {
            let (id, name) = preamble(&a.preamble);
            let params = a
                .params
                .iter()
                .map(|p| {
                    Ok((
                        p.id,
                        p.name.clone(),
                        width("action parameter", &p.name, p.bitwidth)?,
                    ))
                })
                .collect::<Result<_, SchemaError>>()?;
            s.actions.insert(id, ActionInfo { id, name, params });
        }
        for c in &info.direct_counters {
            let (id, _) = preamble(&c.preamble);
            s.direct_counters.insert(id, c.direct_table_id);
        }
        for m in &info.direct_meters {
            let (id, _) = preamble(&m.preamble);
            s.direct_meters.insert(id, m.direct_table_id);
        }
        for t in &info.tables {
            let (id, name) = preamble(&t.preamble);
            let fields = t
                .match_fields
                .iter()
                .map(|f| {
                    Ok(FieldInfo {
                        id: f.id,
                        name: f.name.clone(),
                        bitwidth: width("match field", &f.name, f.bitwidth)?,
                        kind: match_kind(f),
                    })
                })
                .collect::<Result<_, SchemaError>>()?;
            let mut actions = Vec::new();
            for r in &t.action_refs {
                if !s.actions.contains_key(&r.id) {
                    return Err(dangling("table", &name, "action", r.id));
                }
                let scope = match p4info::action_ref::Scope::try_from(r.scope) {
                    Ok(p4info::action_ref::Scope::TableOnly) => ActionScope::TableOnly,
                    Ok(p4info::action_ref::Scope::DefaultOnly) => ActionScope::DefaultOnly,
                    _ => ActionScope::TableAndDefault,
                };
                actions.push((r.id, scope));
            }
            let mut table = TableInfo {
                id,
                name,
                fields,
                actions,
                size: u64::try_from(t.size).unwrap_or(0),
                implementation: (t.implementation_id != 0).then_some(t.implementation_id),
                direct_counter: None,
                direct_meter: None,
                const_default: (t.const_default_action_id != 0)
                    .then_some(t.const_default_action_id),
            };
            for r in &t.direct_resource_ids {
                if s.direct_counters.contains_key(r) {
                    table.direct_counter = Some(*r);
                } else if s.direct_meters.contains_key(r) {
                    table.direct_meter = Some(*r);
                } else {
                    return Err(dangling("table", &table.name, "direct resource", *r));
                }
            }
            s.tables.insert(id, table);
        }
        for p in &info.action_profiles {
            let (id, name) = preamble(&p.preamble);
            if let Some(t) = p.table_ids.iter().find(|t| !s.tables.contains_key(t)) {
                return Err(dangling("action profile", &name, "table", *t));
            }
            s.profiles.insert(
                id,
                ProfileInfo {
                    id,
                    name,
                    table_ids: p.table_ids.clone(),
                    with_selector: p.with_selector,
                    size: u64::try_from(p.size).unwrap_or(0),
                    max_group_size: u32::try_from(p.max_group_size).unwrap_or(0),
                },
            );
        }
        for t in s.tables.values() {
            if let Some(p) = t.implementation.filter(|p| !s.profiles.contains_key(p)) {
                return Err(dangling("table", &t.name, "action profile", p));
            }
        }
        for c in &info.counters {
            let (id, name) = preamble(&c.preamble);
            let size = u64::try_from(c.size).unwrap_or(0);
            s.counters.insert(id, ArrayInfo { id, name, size });
        }
        for m in &info.meters {
            let (id, name) = preamble(&m.preamble);
            let size = u64::try_from(m.size).unwrap_or(0);
            s.meters.insert(id, ArrayInfo { id, name, size });
        }
        for h in &info.controller_packet_metadata {
            let (_, name) = preamble(&h.preamble);
            let md = h
                .metadata
                .iter()
                .map(|m| {
                    Ok((
                        m.id,
                        m.name.clone(),
                        width("packet metadata", &m.name, m.bitwidth)?,
                    ))
                })
                .collect::<Result<_, SchemaError>>()?;
            s.packet_metadata.insert(name, md);
        }
        for d in &info.digests {
            let (id, name) = preamble(&d.preamble);
            s.digests.insert(id, name);
        }
        Ok(s)
    }

    /// The table called `name`.
    pub fn table_by_name(&self, name: &str) -> Option<&TableInfo> {
        self.tables.values().find(|t| t.name == name)
    }

    /// The action called `name`.
    pub fn action_by_name(&self, name: &str) -> Option<&ActionInfo> {
        self.actions.values().find(|a| a.name == name)
    }

    /// The indexed counter called `name`.
    pub fn counter_by_name(&self, name: &str) -> Option<&ArrayInfo> {
        self.counters.values().find(|c| c.name == name)
    }

    /// The id of the digest called `name`.
    pub fn digest_by_name(&self, name: &str) -> Option<u32> {
        self.digests
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(id, _)| *id)
    }

    /// The id of metadata `field` of controller header `header`.
    pub fn packet_metadata_id(&self, header: &str, field: &str) -> Option<u32> {
        self.packet_metadata
            .get(header)?
            .iter()
            .find(|(_, n, _)| n == field)
            .map(|(id, _, _)| *id)
    }

    /// What differs between `self` (the expected program) and `other`, compared by name: tables,
    /// their match fields (name, width, kind) and actions; actions and their parameters. Empty when
    /// `other` is the same program.
    pub fn differences(&self, other: &Schema) -> Vec<String> {
        let mut out = Vec::new();
        for t in self.tables.values() {
            let Some(o) = other.table_by_name(&t.name) else {
                out.push(format!("table `{}` is missing", t.name));
                continue;
            };
            let fields = |t: &TableInfo| {
                t.fields
                    .iter()
                    .map(|f| (f.name.clone(), f.bitwidth, f.kind.clone()))
                    .collect::<Vec<_>>()
            };
            if fields(t) != fields(o) {
                out.push(format!(
                    "table `{}` has match fields {:?}, expected {:?}",
                    t.name,
                    fields(o),
                    fields(t)
                ));
            }
            let names = |s: &Schema, t: &TableInfo| {
                let mut v: Vec<String> = t
                    .actions
                    .iter()
                    .filter_map(|(id, _)| s.actions.get(id).map(|a| a.name.clone()))
                    .collect();
                v.sort();
                v
            };
            if names(self, t) != names(other, o) {
                out.push(format!(
                    "table `{}` has actions {:?}, expected {:?}",
                    t.name,
                    names(other, o),
                    names(self, t)
                ));
            }
        }
        for t in other.tables.values() {
            if self.table_by_name(&t.name).is_none() {
                out.push(format!("table `{}` is not part of prescient.p4", t.name));
            }
        }
        for a in self.actions.values() {
            let Some(o) = other.action_by_name(&a.name) else {
                out.push(format!("action `{}` is missing", a.name));
                continue;
            };
            let params = |a: &ActionInfo| {
                a.params
                    .iter()
                    .map(|(_, n, w)| (n.clone(), *w))
                    .collect::<Vec<_>>()
            };
            if params(a) != params(o) {
                out.push(format!(
                    "action `{}` has parameters {:?}, expected {:?}",
                    a.name,
                    params(o),
                    params(a)
                ));
            }
        }
        for a in other.actions.values() {
            if self.action_by_name(&a.name).is_none() {
                out.push(format!("action `{}` is not part of prescient.p4", a.name));
            }
        }
        out
    }
}

fn dangling(entity: &'static str, name: &str, kind: &'static str, id: u32) -> SchemaError {
    SchemaError::DanglingId {
        entity,
        name: name.to_owned(),
        kind,
        id,
    }
}

/// Parses a P4Info written in protobuf text format.
pub fn p4info_from_text(text: &str) -> Result<p4info::P4Info, SchemaError> {
    let pool = DescriptorPool::decode(FILE_DESCRIPTOR_SET)
        .map_err(|e| SchemaError::Text(e.to_string()))?;
    let desc = pool
        .get_message_by_name("p4.config.v1.P4Info")
        .ok_or_else(|| SchemaError::Text("descriptor set lacks p4.config.v1.P4Info".to_owned()))?;
    let msg = DynamicMessage::parse_text_format(desc, text)
        .map_err(|e| SchemaError::Text(e.to_string()))?;
    msg.transcode_to::<p4info::P4Info>()
        .map_err(|e| SchemaError::Text(e.to_string()))
}

/// The embedded P4Info of prescient.p4.
pub fn prescient_p4info() -> Result<p4info::P4Info, SchemaError> {
    p4info_from_text(PRESCIENT_P4INFO_TEXT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_p4info_indexes_every_contract_entity() {
        let info = prescient_p4info().unwrap();
        let s = Schema::from_p4info(&info).unwrap();
        let acl = s.table_by_name("PrescientIngress.acl").unwrap();
        assert_eq!(acl.fields.len(), 9);
        assert!(acl.needs_priority());
        assert_eq!(acl.size, 1024);
        let lpm = s.table_by_name("PrescientIngress.ipv4_lpm").unwrap();
        assert_eq!(lpm.fields[0].kind, MatchKind::Lpm);
        assert!(lpm.direct_counter.is_some());
        let meter = s.table_by_name("PrescientIngress.flow_meter").unwrap();
        assert!(meter.direct_meter.is_some());
        assert_eq!(meter.fields.len(), 5, "addresses, protocol and ports");
        assert!(meter.needs_priority(), "ternary: overlapping reservations");
        let sel = s.table_by_name("PrescientIngress.service_select").unwrap();
        let prof = &s.profiles[&sel.implementation.unwrap()];
        assert!(prof.with_selector);
        assert_eq!(prof.max_group_size, 64);
        let fwd = s.action_by_name("PrescientIngress.forward").unwrap();
        assert_eq!(
            fwd.params.iter().map(|p| p.2).collect::<Vec<_>>(),
            vec![9, 48, 48]
        );
        assert_eq!(
            s.counter_by_name("PrescientEgress.tx_port_counter")
                .unwrap()
                .size,
            512
        );
        assert_eq!(s.packet_metadata_id("packet_in", "ingress_port"), Some(1));
        assert_eq!(s.packet_metadata_id("packet_out", "egress_port"), Some(1));
        assert!(s.digest_by_name("learned_host_t").is_some());
        // p4c's id scheme: the top byte is the entity kind.
        assert!(s.tables.keys().all(|id| id >> 24 == 0x02));
        assert!(s.actions.keys().all(|id| id >> 24 == 0x01));
    }

    #[test]
    fn differences_name_what_changed() {
        let base = Schema::from_p4info(&prescient_p4info().unwrap()).unwrap();
        assert!(base.differences(&base).is_empty());
        let mut info = prescient_p4info().unwrap();
        info.tables.retain(|t| {
            t.preamble
                .as_ref()
                .is_some_and(|p| p.name != "PrescientIngress.acl")
        });
        if let Some(f) = info
            .tables
            .iter_mut()
            .flat_map(|t| t.match_fields.iter_mut())
            .next()
        {
            f.bitwidth = 31;
        }
        let other = Schema::from_p4info(&info).unwrap();
        let diff = base.differences(&other);
        assert!(
            diff.iter()
                .any(|d| d.contains("`PrescientIngress.acl` is missing")),
            "{diff:?}"
        );
        assert!(diff.iter().any(|d| d.contains("31")), "{diff:?}");
    }

    #[test]
    fn dangling_action_reference_is_refused() {
        let mut info = prescient_p4info().unwrap();
        info.actions.retain(|a| {
            a.preamble
                .as_ref()
                .is_some_and(|p| p.name != "PrescientIngress.forward")
        });
        let err = Schema::from_p4info(&info).unwrap_err();
        assert!(err.to_string().contains("unknown action id"), "{err}");
    }
}
