//! `P4InfoIndex`: the P4Info flattened into lookups by name (full name or alias) and by id for
//! every entity kind the client uses. Built once per pipeline; immutable afterwards.
//!
//! Invariant: every width stored here is > 0 (checked on build), so encoders may rely on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use super::error::{EntityKind, MatchKind, P4InfoError, ResolveError};
use super::proto::p4::config::v1 as cfg;

/// One key field of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchFieldInfo {
    /// P4Info id (unique within the table).
    pub id: u32,
    /// Field name, e.g. `hdr.ipv4.dst_addr`.
    pub name: String,
    /// Width in bits.
    pub bitwidth: u32,
    /// Match kind.
    pub kind: MatchKind,
}

/// Where an action may be used in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionScope {
    /// Entries and default action.
    TableAndDefault,
    /// Entries only.
    TableOnly,
    /// Default action only.
    DefaultOnly,
}

/// A table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// P4Info id.
    pub id: u32,
    /// Fully qualified name.
    pub name: String,
    /// Key fields, in P4Info order.
    pub fields: Vec<MatchFieldInfo>,
    /// Allowed actions and their scope.
    pub actions: Vec<(u32, ActionScope)>,
    /// Maximum entries.
    pub size: i64,
    /// Action profile id for indirect tables, 0 otherwise.
    pub implementation_id: u32,
    /// Attached direct counter.
    pub direct_counter: Option<u32>,
    /// Attached direct meter.
    pub direct_meter: Option<u32>,
    /// Non-zero when the default action is fixed.
    pub const_default_action_id: u32,
}

impl TableInfo {
    /// Whether entries need a priority (any ternary, range or optional key).
    pub fn needs_priority(&self) -> bool {
        self.fields.iter().any(|f| {
            matches!(
                f.kind,
                MatchKind::Ternary | MatchKind::Range | MatchKind::Optional
            )
        })
    }

    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&MatchFieldInfo> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// One action parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamInfo {
    /// P4Info id (unique within the action).
    pub id: u32,
    /// Name.
    pub name: String,
    /// Width in bits.
    pub bitwidth: u32,
}

/// An action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionInfo {
    /// P4Info id.
    pub id: u32,
    /// Fully qualified name.
    pub name: String,
    /// Parameters in P4Info order.
    pub params: Vec<ParamInfo>,
}

/// An action profile (with or without selector).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileInfo {
    /// P4Info id.
    pub id: u32,
    /// Fully qualified name.
    pub name: String,
    /// Whether groups are allowed.
    pub with_selector: bool,
    /// Capacity.
    pub size: i64,
    /// Largest group.
    pub max_group_size: i32,
    /// Tables using it.
    pub table_ids: Vec<u32>,
}

/// An indexed counter, meter or register, or a direct counter/meter (size 0, `table_id` set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    /// P4Info id.
    pub id: u32,
    /// Fully qualified name.
    pub name: String,
    /// Number of cells (indexed resources).
    pub size: i64,
    /// Owning table (direct resources).
    pub table_id: u32,
}

/// A controller header (`packet_in` / `packet_out`) field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataInfo {
    /// P4Info id (unique within the header).
    pub id: u32,
    /// Field name.
    pub name: String,
    /// Width in bits.
    pub bitwidth: u32,
}

/// A controller header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerHeaderInfo {
    /// P4Info id.
    pub id: u32,
    /// `packet_in` or `packet_out`.
    pub name: String,
    /// Fields in header order.
    pub fields: Vec<MetadataInfo>,
}

/// A digest and, when its type is a struct of bit strings, the member names and widths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestInfo {
    /// P4Info id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Struct members (name, width); empty when the type is not a flat struct.
    pub members: Vec<(String, u32)>,
}

/// Entities of one kind, looked up by name, alias or id.
#[derive(Debug, Clone)]
pub struct Catalog<T> {
    items: Vec<T>,
    by_name: HashMap<String, usize>,
    by_alias: HashMap<String, usize>,
    by_id: HashMap<u32, usize>,
    ids: Vec<u32>,
    kind: EntityKind,
}

impl<T> Catalog<T> {
    fn new(kind: EntityKind) -> Self {
        Self {
            items: Vec::new(),
            by_name: HashMap::new(),
            by_alias: HashMap::new(),
            by_id: HashMap::new(),
            ids: Vec::new(),
            kind,
        }
    }

    fn insert(&mut self, pre: Option<&cfg::Preamble>, item: T) -> Result<(), P4InfoError> {
        let Some(pre) = pre.filter(|p| p.id != 0) else {
            return Err(P4InfoError::MissingId {
                kind: self.kind,
                name: pre.map(|p| p.name.clone()).unwrap_or_default(),
            });
        };
        if self.by_id.contains_key(&pre.id) {
            return Err(P4InfoError::DuplicateId {
                kind: self.kind,
                id: pre.id,
            });
        }
        if let Some(&other) = self.by_name.get(pre.name.as_str()) {
            return Err(P4InfoError::DuplicateName {
                kind: self.kind,
                name: pre.name.clone(),
                first: self.ids.get(other).copied().unwrap_or(0),
                second: pre.id,
            });
        }
        let idx = self.items.len();
        self.by_name.insert(pre.name.clone(), idx);
        // Aliases are a fallback: full names always win, and an alias shared by two
        // entities resolves to neither.
        if !pre.alias.is_empty()
            && pre.alias != pre.name
            && self.by_alias.insert(pre.alias.clone(), idx).is_some()
        {
            self.by_alias.insert(pre.alias.clone(), usize::MAX);
        }
        self.by_id.insert(pre.id, idx);
        self.ids.push(pre.id);
        self.items.push(item);
        Ok(())
    }

    /// The entity named `name` (full name or alias).
    pub fn by_name(&self, name: &str) -> Result<&T, ResolveError> {
        self.by_name
            .get(name)
            .or_else(|| self.by_alias.get(name))
            .and_then(|&i| self.items.get(i))
            .ok_or_else(|| ResolveError::UnknownName {
                kind: self.kind,
                name: name.to_string(),
            })
    }

    /// The entity with P4Info id `id`.
    pub fn by_id(&self, id: u32) -> Result<&T, ResolveError> {
        self.by_id
            .get(&id)
            .and_then(|&i| self.items.get(i))
            .ok_or(ResolveError::UnknownId {
                kind: self.kind,
                id,
            })
    }

    /// All entities, in P4Info order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }
}

/// The P4Info, indexed for name resolution and validation.
#[derive(Debug, Clone)]
pub struct P4InfoIndex {
    /// Tables.
    pub tables: Catalog<TableInfo>,
    /// Actions.
    pub actions: Catalog<ActionInfo>,
    /// Action profiles.
    pub profiles: Catalog<ProfileInfo>,
    /// Indexed counters.
    pub counters: Catalog<ResourceInfo>,
    /// Direct counters.
    pub direct_counters: Catalog<ResourceInfo>,
    /// Indexed meters.
    pub meters: Catalog<ResourceInfo>,
    /// Direct meters.
    pub direct_meters: Catalog<ResourceInfo>,
    /// Registers.
    pub registers: Catalog<ResourceInfo>,
    /// Controller headers.
    pub headers: Catalog<ControllerHeaderInfo>,
    /// Digests.
    pub digests: Catalog<DigestInfo>,
    p4info: Arc<cfg::P4Info>,
}

/// FNV-1a over the encoded P4Info: the key under which equal P4Infos find one index.
fn content_hash(p4info: &cfg::P4Info) -> u64 {
    use prost::Message;
    p4info
        .encode_to_vec()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h: u64, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        })
}

fn width(kind: EntityKind, entity: &str, field: &str, bitwidth: i32) -> Result<u32, P4InfoError> {
    u32::try_from(bitwidth)
        .ok()
        .filter(|&w| w > 0)
        .ok_or_else(|| P4InfoError::BadBitwidth {
            kind,
            entity: entity.to_string(),
            field: field.to_string(),
            bitwidth,
        })
}

fn name_of(pre: Option<&cfg::Preamble>) -> String {
    pre.map(|p| p.name.clone()).unwrap_or_default()
}

fn id_of(pre: Option<&cfg::Preamble>) -> u32 {
    pre.map(|p| p.id).unwrap_or(0)
}

fn match_kind(f: &cfg::MatchField) -> MatchKind {
    use cfg::match_field::{Match, MatchType};
    match &f.r#match {
        Some(Match::MatchType(t)) => match MatchType::try_from(*t) {
            Ok(MatchType::Exact) => MatchKind::Exact,
            Ok(MatchType::Lpm) => MatchKind::Lpm,
            Ok(MatchType::Ternary) => MatchKind::Ternary,
            Ok(MatchType::Range) => MatchKind::Range,
            Ok(MatchType::Optional) => MatchKind::Optional,
            _ => MatchKind::Other(format!("match_type {t}")),
        },
        Some(Match::OtherMatchType(s)) => MatchKind::Other(s.clone()),
        None => MatchKind::Other("unspecified".into()),
    }
}

impl P4InfoIndex {
    /// Indexes `p4info`, rejecting duplicate names, missing ids and non-positive widths.
    pub fn new(p4info: cfg::P4Info) -> Result<Self, P4InfoError> {
        Self::build(Arc::new(p4info))
    }

    /// The index of `p4info`, shared with every other holder of an equal P4Info while any of
    /// them holds it: devices running one program need one index (and one P4Info) between
    /// them, where each built its own (about 200 KB a device with prescient.p4).
    pub fn shared(p4info: Arc<cfg::P4Info>) -> Result<Arc<Self>, P4InfoError> {
        static BUILT: Mutex<Vec<(u64, Weak<P4InfoIndex>)>> = Mutex::new(Vec::new());
        let key = content_hash(&p4info);
        let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
        built.retain(|(_, ix)| ix.strong_count() > 0);
        let found = built
            .iter()
            .filter(|(k, _)| *k == key)
            .filter_map(|(_, ix)| ix.upgrade())
            .find(|ix| Arc::ptr_eq(&ix.p4info, &p4info) || *ix.p4info == *p4info);
        if let Some(ix) = found {
            return Ok(ix);
        }
        let ix = Arc::new(Self::build(p4info)?);
        built.push((key, Arc::downgrade(&ix)));
        Ok(ix)
    }

    fn build(p4info: Arc<cfg::P4Info>) -> Result<Self, P4InfoError> {
        let mut ix = Self {
            tables: Catalog::new(EntityKind::Table),
            actions: Catalog::new(EntityKind::Action),
            profiles: Catalog::new(EntityKind::ActionProfile),
            counters: Catalog::new(EntityKind::Counter),
            direct_counters: Catalog::new(EntityKind::DirectCounter),
            meters: Catalog::new(EntityKind::Meter),
            direct_meters: Catalog::new(EntityKind::DirectMeter),
            registers: Catalog::new(EntityKind::Register),
            headers: Catalog::new(EntityKind::ControllerHeader),
            digests: Catalog::new(EntityKind::Digest),
            p4info: Arc::default(),
        };
        let direct_counter_ids: HashMap<u32, u32> = p4info
            .direct_counters
            .iter()
            .map(|d| (d.direct_table_id, id_of(d.preamble.as_ref())))
            .collect();
        let direct_meter_ids: HashMap<u32, u32> = p4info
            .direct_meters
            .iter()
            .map(|d| (d.direct_table_id, id_of(d.preamble.as_ref())))
            .collect();
        for t in &p4info.tables {
            let name = name_of(t.preamble.as_ref());
            let mut fields = Vec::with_capacity(t.match_fields.len());
            for f in &t.match_fields {
                fields.push(MatchFieldInfo {
                    id: f.id,
                    name: f.name.clone(),
                    bitwidth: width(EntityKind::Table, &name, &f.name, f.bitwidth)?,
                    kind: match_kind(f),
                });
            }
            let actions = t
                .action_refs
                .iter()
                .map(|a| {
                    let scope = match cfg::action_ref::Scope::try_from(a.scope) {
                        Ok(cfg::action_ref::Scope::TableOnly) => ActionScope::TableOnly,
                        Ok(cfg::action_ref::Scope::DefaultOnly) => ActionScope::DefaultOnly,
                        _ => ActionScope::TableAndDefault,
                    };
                    (a.id, scope)
                })
                .collect();
            let id = id_of(t.preamble.as_ref());
            let info = TableInfo {
                id,
                name,
                fields,
                actions,
                size: t.size,
                implementation_id: t.implementation_id,
                direct_counter: direct_counter_ids.get(&id).copied(),
                direct_meter: direct_meter_ids.get(&id).copied(),
                const_default_action_id: t.const_default_action_id,
            };
            ix.tables.insert(t.preamble.as_ref(), info)?;
        }
        for a in &p4info.actions {
            let name = name_of(a.preamble.as_ref());
            let mut params = Vec::with_capacity(a.params.len());
            for p in &a.params {
                params.push(ParamInfo {
                    id: p.id,
                    name: p.name.clone(),
                    bitwidth: width(EntityKind::Action, &name, &p.name, p.bitwidth)?,
                });
            }
            let info = ActionInfo {
                id: id_of(a.preamble.as_ref()),
                name,
                params,
            };
            ix.actions.insert(a.preamble.as_ref(), info)?;
        }
        for p in &p4info.action_profiles {
            let info = ProfileInfo {
                id: id_of(p.preamble.as_ref()),
                name: name_of(p.preamble.as_ref()),
                with_selector: p.with_selector,
                size: p.size,
                max_group_size: p.max_group_size,
                table_ids: p.table_ids.clone(),
            };
            ix.profiles.insert(p.preamble.as_ref(), info)?;
        }
        let resource = |pre: Option<&cfg::Preamble>, size: i64, table_id: u32| ResourceInfo {
            id: id_of(pre),
            name: name_of(pre),
            size,
            table_id,
        };
        for c in &p4info.counters {
            let pre = c.preamble.as_ref();
            ix.counters.insert(pre, resource(pre, c.size, 0))?;
        }
        for c in &p4info.direct_counters {
            let pre = c.preamble.as_ref();
            ix.direct_counters
                .insert(pre, resource(pre, 0, c.direct_table_id))?;
        }
        for m in &p4info.meters {
            let pre = m.preamble.as_ref();
            ix.meters.insert(pre, resource(pre, m.size, 0))?;
        }
        for m in &p4info.direct_meters {
            let pre = m.preamble.as_ref();
            ix.direct_meters
                .insert(pre, resource(pre, 0, m.direct_table_id))?;
        }
        for r in &p4info.registers {
            let pre = r.preamble.as_ref();
            ix.registers
                .insert(pre, resource(pre, i64::from(r.size), 0))?;
        }
        for h in &p4info.controller_packet_metadata {
            let name = name_of(h.preamble.as_ref());
            let mut fields = Vec::with_capacity(h.metadata.len());
            for m in &h.metadata {
                fields.push(MetadataInfo {
                    id: m.id,
                    name: m.name.clone(),
                    bitwidth: width(EntityKind::ControllerHeader, &name, &m.name, m.bitwidth)?,
                });
            }
            let info = ControllerHeaderInfo {
                id: id_of(h.preamble.as_ref()),
                name,
                fields,
            };
            ix.headers.insert(h.preamble.as_ref(), info)?;
        }
        for d in &p4info.digests {
            let info = DigestInfo {
                id: id_of(d.preamble.as_ref()),
                name: name_of(d.preamble.as_ref()),
                members: digest_members(d, p4info.type_info.as_ref()),
            };
            ix.digests.insert(d.preamble.as_ref(), info)?;
        }
        ix.p4info = p4info;
        Ok(ix)
    }

    /// The P4Info this index was built from.
    pub fn p4info(&self) -> &cfg::P4Info {
        &self.p4info
    }

    /// The P4Info this index was built from, shared.
    pub fn p4info_arc(&self) -> &Arc<cfg::P4Info> {
        &self.p4info
    }

    /// The table named `name`.
    pub fn table(&self, name: &str) -> Result<&TableInfo, ResolveError> {
        self.tables.by_name(name)
    }

    /// The action named `name`.
    pub fn action(&self, name: &str) -> Result<&ActionInfo, ResolveError> {
        self.actions.by_name(name)
    }

    /// The action profile named `name`.
    pub fn profile(&self, name: &str) -> Result<&ProfileInfo, ResolveError> {
        self.profiles.by_name(name)
    }

    /// The controller header named `name` (`packet_in` / `packet_out`).
    pub fn header(&self, name: &str) -> Result<&ControllerHeaderInfo, ResolveError> {
        self.headers.by_name(name)
    }
}

fn digest_members(d: &cfg::Digest, types: Option<&cfg::P4TypeInfo>) -> Vec<(String, u32)> {
    use cfg::p4_bitstring_like_type_spec::TypeSpec as Bits;
    use cfg::p4_data_type_spec::TypeSpec;
    let Some(TypeSpec::Struct(named)) = d.type_spec.as_ref().and_then(|t| t.type_spec.as_ref())
    else {
        return Vec::new();
    };
    let Some(spec) = types.and_then(|t| t.structs.get(&named.name)) else {
        return Vec::new();
    };
    spec.members
        .iter()
        .map(|m| {
            let w = match m.type_spec.as_ref().and_then(|t| t.type_spec.as_ref()) {
                Some(TypeSpec::Bitstring(b)) => match &b.type_spec {
                    Some(Bits::Bit(b)) => b.bitwidth,
                    Some(Bits::Int(i)) => i.bitwidth,
                    Some(Bits::Varbit(v)) => v.max_bitwidth,
                    None => 0,
                },
                _ => 0,
            };
            (m.name.clone(), u32::try_from(w).unwrap_or(0))
        })
        .collect()
}
