//! Name-based descriptions of P4Runtime entities and their translation to protobuf, validated
//! against the P4Info BEFORE anything is sent (P4Runtime spec §9: table entries, §9.2 action
//! profiles, §9.3-9.6 counters and meters). Values are byte strings and are sent canonical.
//!
//! Checks: unknown names, duplicate or missing fields/params, match kind, bit width, LPM/ternary
//! bits outside the mask, inverted ranges, action scope, priority rules, table implementation.

use super::bytestr;
use super::error::{EntityKind, MatchKind, ResolveError};
use super::index::{ActionScope, P4InfoIndex, TableInfo};
use super::proto::p4::v1 as p4;

/// The value of one key field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// Exact value.
    Exact(Vec<u8>),
    /// Longest-prefix match.
    Lpm {
        /// Address bits (host bits must be zero).
        value: Vec<u8>,
        /// Prefix length in bits.
        prefix_len: u32,
    },
    /// Value under mask.
    Ternary {
        /// Value (bits outside `mask` must be zero).
        value: Vec<u8>,
        /// Mask.
        mask: Vec<u8>,
    },
    /// Inclusive range.
    Range {
        /// Low bound.
        low: Vec<u8>,
        /// High bound.
        high: Vec<u8>,
    },
    /// Exact value on an optional field.
    Optional(Vec<u8>),
}

impl Match {
    fn kind(&self) -> MatchKind {
        match self {
            Self::Exact(_) => MatchKind::Exact,
            Self::Lpm { .. } => MatchKind::Lpm,
            Self::Ternary { .. } => MatchKind::Ternary,
            Self::Range { .. } => MatchKind::Range,
            Self::Optional(_) => MatchKind::Optional,
        }
    }
}

/// An action with named parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionCall {
    /// Action name (full or alias).
    pub name: String,
    /// Parameter values by name.
    pub params: Vec<(String, Vec<u8>)>,
}

impl ActionCall {
    /// An action without parameters (add them with [`ActionCall::param`]).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            params: Vec::new(),
        }
    }

    /// Adds a parameter value.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }
}

/// What a table entry does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryAction {
    /// A direct action.
    Direct(ActionCall),
    /// A member of the table's action profile.
    Member(u32),
    /// A group of the table's action selector.
    Group(u32),
    /// One-shot selector programming: weighted actions, grouped by the target.
    OneShot(Vec<(ActionCall, i32)>),
}

/// A table entry by names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableEntrySpec {
    /// Table name (full or alias).
    pub table: String,
    /// Key field values by name; omitted non-exact fields are wildcards.
    pub matches: Vec<(String, Match)>,
    /// Action (required for INSERT/MODIFY, ignored for DELETE and reads).
    pub action: Option<EntryAction>,
    /// Priority (tables with ternary/range/optional keys only; larger wins).
    pub priority: i32,
    /// Whether this is the table's default entry.
    pub is_default: bool,
    /// Direct meter configuration written with the entry.
    pub meter: Option<p4::MeterConfig>,
    /// Direct counter value written with the entry.
    pub counter: Option<p4::CounterData>,
    /// Opaque controller metadata.
    pub metadata: Vec<u8>,
}

impl TableEntrySpec {
    /// An entry of `table` with no key values yet.
    pub fn new(table: impl Into<String>) -> Self {
        Self {
            table: table.into(),
            matches: Vec::new(),
            action: None,
            priority: 0,
            is_default: false,
            meter: None,
            counter: None,
            metadata: Vec::new(),
        }
    }

    /// The default entry of `table`, running `action`.
    pub fn default_action(table: impl Into<String>, action: ActionCall) -> Self {
        let mut s = Self::new(table);
        s.is_default = true;
        s.action = Some(EntryAction::Direct(action));
        s
    }

    /// Adds an exact key value.
    pub fn exact(mut self, field: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.matches
            .push((field.into(), Match::Exact(value.into())));
        self
    }

    /// Adds an LPM key value.
    pub fn lpm(
        mut self,
        field: impl Into<String>,
        value: impl Into<Vec<u8>>,
        prefix_len: u32,
    ) -> Self {
        self.matches.push((
            field.into(),
            Match::Lpm {
                value: value.into(),
                prefix_len,
            },
        ));
        self
    }

    /// Adds a ternary key value.
    pub fn ternary(
        mut self,
        field: impl Into<String>,
        value: impl Into<Vec<u8>>,
        mask: impl Into<Vec<u8>>,
    ) -> Self {
        self.matches.push((
            field.into(),
            Match::Ternary {
                value: value.into(),
                mask: mask.into(),
            },
        ));
        self
    }

    /// Adds a range key value.
    pub fn range(
        mut self,
        field: impl Into<String>,
        low: impl Into<Vec<u8>>,
        high: impl Into<Vec<u8>>,
    ) -> Self {
        self.matches.push((
            field.into(),
            Match::Range {
                low: low.into(),
                high: high.into(),
            },
        ));
        self
    }

    /// Adds an optional key value.
    pub fn optional(mut self, field: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.matches
            .push((field.into(), Match::Optional(value.into())));
        self
    }

    /// Sets a direct action.
    pub fn action(mut self, action: ActionCall) -> Self {
        self.action = Some(EntryAction::Direct(action));
        self
    }

    /// Sets an action-profile form (member, group or one-shot).
    pub fn indirect(mut self, action: EntryAction) -> Self {
        self.action = Some(action);
        self
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the direct meter configuration.
    pub fn meter(mut self, config: p4::MeterConfig) -> Self {
        self.meter = Some(config);
        self
    }
}

fn checked(
    what: impl FnOnce() -> String,
    value: &[u8],
    bitwidth: u32,
) -> Result<Vec<u8>, ResolveError> {
    if bytestr::fits(value, bitwidth) {
        Ok(bytestr::canonical(value))
    } else {
        Err(ResolveError::ValueTooWide {
            what: what(),
            value: bytestr::hex(value),
            bitwidth,
        })
    }
}

impl P4InfoIndex {
    /// Translates an action call, checking parameter names, presence and widths.
    pub fn encode_action(&self, call: &ActionCall) -> Result<p4::Action, ResolveError> {
        let info = self.action(&call.name)?;
        let mut params = Vec::with_capacity(info.params.len());
        for (name, _) in &call.params {
            if !info.params.iter().any(|p| &p.name == name) {
                return Err(ResolveError::UnknownParam {
                    action: info.name.clone(),
                    param: name.clone(),
                });
            }
        }
        for p in &info.params {
            let mut given = call.params.iter().filter(|(n, _)| *n == p.name);
            let Some((_, value)) = given.next() else {
                return Err(ResolveError::MissingParam {
                    action: info.name.clone(),
                    param: p.name.clone(),
                });
            };
            if given.next().is_some() {
                return Err(ResolveError::DuplicateParam {
                    action: info.name.clone(),
                    param: p.name.clone(),
                });
            }
            let value = checked(
                || format!("action `{}` parameter `{}`", info.name, p.name),
                value,
                p.bitwidth,
            )?;
            params.push(p4::action::Param {
                param_id: p.id,
                value,
            });
        }
        Ok(p4::Action {
            action_id: info.id,
            params,
        })
    }

    fn encode_table_action(
        &self,
        table: &TableInfo,
        call: &ActionCall,
        default: bool,
    ) -> Result<p4::Action, ResolveError> {
        let action = self.encode_action(call)?;
        let scope = table
            .actions
            .iter()
            .find(|(id, _)| *id == action.action_id)
            .map(|(_, s)| *s);
        let allowed = match scope {
            None => false,
            Some(ActionScope::TableAndDefault) => true,
            Some(ActionScope::TableOnly) => !default,
            Some(ActionScope::DefaultOnly) => default,
        };
        if !allowed {
            return Err(ResolveError::ActionNotAllowed {
                table: table.name.clone(),
                action: call.name.clone(),
                scope: if default {
                    "as the default action"
                } else {
                    "in entries"
                },
            });
        }
        Ok(action)
    }

    /// Translates the key of `spec` (table id, matches, priority) without its action.
    pub fn encode_key(&self, spec: &TableEntrySpec) -> Result<p4::TableEntry, ResolveError> {
        let table = self.table(&spec.table)?;
        if spec.is_default {
            if !spec.matches.is_empty() {
                return Err(ResolveError::DefaultWithMatch {
                    table: table.name.clone(),
                });
            }
            return Ok(p4::TableEntry {
                table_id: table.id,
                is_default_action: true,
                ..Default::default()
            });
        }
        for (i, (name, _)) in spec.matches.iter().enumerate() {
            if spec.matches.iter().skip(i + 1).any(|(n, _)| n == name) {
                return Err(ResolveError::DuplicateMatchField {
                    table: table.name.clone(),
                    field: name.clone(),
                });
            }
            if table.field(name).is_none() {
                return Err(ResolveError::UnknownMatchField {
                    table: table.name.clone(),
                    field: name.clone(),
                });
            }
        }
        let mut matches = Vec::with_capacity(spec.matches.len());
        for field in &table.fields {
            let Some((_, m)) = spec.matches.iter().find(|(n, _)| *n == field.name) else {
                if field.kind == MatchKind::Exact {
                    return Err(ResolveError::MissingExactField {
                        table: table.name.clone(),
                        field: field.name.clone(),
                    });
                }
                continue;
            };
            if let Some(fm) = self.encode_match(table, field, m)? {
                matches.push(fm);
            }
        }
        let needs = table.needs_priority();
        if needs && spec.priority <= 0 {
            return Err(ResolveError::BadPriority {
                table: table.name.clone(),
                priority: spec.priority,
                why: "tables with ternary, range or optional keys need a priority above 0",
            });
        }
        if !needs && spec.priority != 0 {
            return Err(ResolveError::BadPriority {
                table: table.name.clone(),
                priority: spec.priority,
                why: "only tables with ternary, range or optional keys take a priority",
            });
        }
        Ok(p4::TableEntry {
            table_id: table.id,
            r#match: matches,
            priority: spec.priority,
            ..Default::default()
        })
    }

    /// Returns `None` for a match that is a wildcard by value (LPM /0, ternary mask 0,
    /// full range), which the spec requires to be omitted.
    fn encode_match(
        &self,
        table: &TableInfo,
        field: &super::index::MatchFieldInfo,
        m: &Match,
    ) -> Result<Option<p4::FieldMatch>, ResolveError> {
        use p4::field_match::{Exact, FieldMatchType, Lpm, Optional, Range, Ternary};
        if m.kind() != field.kind {
            return Err(ResolveError::WrongMatchKind {
                table: table.name.clone(),
                field: field.name.clone(),
                expected: field.kind.clone(),
                given: m.kind(),
            });
        }
        let what = || format!("table `{}` match field `{}`", table.name, field.name);
        let w = field.bitwidth;
        let kind = match m {
            Match::Exact(v) => FieldMatchType::Exact(Exact {
                value: checked(what, v, w)?,
            }),
            Match::Optional(v) => FieldMatchType::Optional(Optional {
                value: checked(what, v, w)?,
            }),
            Match::Lpm { value, prefix_len } => {
                if *prefix_len > w {
                    return Err(ResolveError::PrefixTooLong {
                        table: table.name.clone(),
                        field: field.name.clone(),
                        prefix_len: *prefix_len,
                        bitwidth: w,
                    });
                }
                let value = checked(what, value, w)?;
                let mask = bytestr::prefix_mask(*prefix_len, w);
                if !bytestr::within_mask(&value, &mask) {
                    return Err(ResolveError::BitsOutsideMask {
                        what: what(),
                        value: bytestr::hex(&value),
                        mask: bytestr::hex(&mask),
                    });
                }
                if *prefix_len == 0 {
                    return Ok(None);
                }
                FieldMatchType::Lpm(Lpm {
                    value,
                    prefix_len: i32::try_from(*prefix_len).unwrap_or(i32::MAX),
                })
            }
            Match::Ternary { value, mask } => {
                let value = checked(what, value, w)?;
                let mask = checked(what, mask, w)?;
                if !bytestr::within_mask(&value, &mask) {
                    return Err(ResolveError::BitsOutsideMask {
                        what: what(),
                        value: bytestr::hex(&value),
                        mask: bytestr::hex(&mask),
                    });
                }
                if mask == [0] {
                    return Ok(None);
                }
                FieldMatchType::Ternary(Ternary { value, mask })
            }
            Match::Range { low, high } => {
                let low = checked(what, low, w)?;
                let high = checked(what, high, w)?;
                if bytestr::cmp_value(&low, &high) == std::cmp::Ordering::Greater {
                    return Err(ResolveError::InvertedRange {
                        table: table.name.clone(),
                        field: field.name.clone(),
                        low: bytestr::hex(&low),
                        high: bytestr::hex(&high),
                    });
                }
                let full = bytestr::canonical(&bytestr::prefix_mask(w, w));
                if low == [0] && high == full {
                    return Ok(None);
                }
                FieldMatchType::Range(Range { low, high })
            }
        };
        Ok(Some(p4::FieldMatch {
            field_id: field.id,
            field_match_type: Some(kind),
        }))
    }

    /// Translates a full table entry (key, action, direct resources) for INSERT/MODIFY.
    pub fn encode_table_entry(
        &self,
        spec: &TableEntrySpec,
    ) -> Result<p4::TableEntry, ResolveError> {
        use p4::table_action::Type;
        let mut entry = self.encode_key(spec)?;
        let table = self.table(&spec.table)?;
        let indirect = table.implementation_id != 0;
        let wrong = |why| ResolveError::WrongImplementation {
            table: table.name.clone(),
            why,
        };
        let action = match &spec.action {
            None => None,
            Some(EntryAction::Direct(call)) => {
                if indirect && !spec.is_default {
                    return Err(wrong(
                        "the table uses an action profile: give a member, group or one-shot set",
                    ));
                }
                Some(Type::Action(self.encode_table_action(
                    table,
                    call,
                    spec.is_default,
                )?))
            }
            Some(EntryAction::Member(id)) => {
                if !indirect {
                    return Err(wrong(
                        "the table has no action profile: members are not allowed",
                    ));
                }
                Some(Type::ActionProfileMemberId(*id))
            }
            Some(EntryAction::Group(id)) => {
                if !self.profile_is_selector(table) {
                    return Err(wrong(
                        "the table has no action selector: groups are not allowed",
                    ));
                }
                Some(Type::ActionProfileGroupId(*id))
            }
            Some(EntryAction::OneShot(set)) => {
                if !self.profile_is_selector(table) {
                    return Err(wrong(
                        "the table has no action selector: one-shot sets are not allowed",
                    ));
                }
                let mut actions = Vec::with_capacity(set.len());
                for (call, weight) in set {
                    actions.push(p4::ActionProfileAction {
                        action: Some(self.encode_table_action(table, call, false)?),
                        weight: *weight,
                        watch_kind: None,
                    });
                }
                Some(Type::ActionProfileActionSet(p4::ActionProfileActionSet {
                    action_profile_actions: actions,
                }))
            }
        };
        entry.action = action.map(|t| p4::TableAction { r#type: Some(t) });
        if let Some(meter) = spec.meter {
            if table.direct_meter.is_none() {
                return Err(ResolveError::NoDirectResource {
                    table: table.name.clone(),
                    kind: EntityKind::DirectMeter,
                });
            }
            entry.meter_config = Some(meter);
        }
        if let Some(counter) = spec.counter {
            if table.direct_counter.is_none() {
                return Err(ResolveError::NoDirectResource {
                    table: table.name.clone(),
                    kind: EntityKind::DirectCounter,
                });
            }
            entry.counter_data = Some(counter);
        }
        entry.metadata.clone_from(&spec.metadata);
        Ok(entry)
    }

    fn profile_is_selector(&self, table: &TableInfo) -> bool {
        self.profiles
            .by_id(table.implementation_id)
            .map(|p| p.with_selector)
            .unwrap_or(false)
    }

    /// An action profile member binding `member_id` to `call`.
    pub fn encode_member(
        &self,
        profile: &str,
        member_id: u32,
        call: &ActionCall,
    ) -> Result<p4::ActionProfileMember, ResolveError> {
        let info = self.profile(profile)?;
        let action = self.encode_action(call)?;
        // The action must be usable by at least one table sharing the profile.
        let usable = info.table_ids.iter().any(|t| {
            self.tables.by_id(*t).is_ok_and(|t| {
                t.actions
                    .iter()
                    .any(|(id, s)| *id == action.action_id && *s != ActionScope::DefaultOnly)
            })
        });
        if !usable && !info.table_ids.is_empty() {
            return Err(ResolveError::ActionNotAllowed {
                table: info.name.clone(),
                action: call.name.clone(),
                scope: "in members",
            });
        }
        Ok(p4::ActionProfileMember {
            action_profile_id: info.id,
            member_id,
            action: Some(action),
        })
    }

    /// A selector group of weighted members.
    pub fn encode_group(
        &self,
        profile: &str,
        group_id: u32,
        members: &[(u32, i32)],
    ) -> Result<p4::ActionProfileGroup, ResolveError> {
        let info = self.profile(profile)?;
        if !info.with_selector {
            return Err(ResolveError::WrongImplementation {
                table: info.name.clone(),
                why: "the action profile has no selector: groups are not allowed",
            });
        }
        Ok(p4::ActionProfileGroup {
            action_profile_id: info.id,
            group_id,
            members: members
                .iter()
                .map(|&(member_id, weight)| p4::action_profile_group::Member {
                    member_id,
                    weight,
                    watch_kind: None,
                })
                .collect(),
            max_size: 0,
        })
    }

    fn check_index(
        kind: EntityKind,
        name: &str,
        size: i64,
        index: Option<i64>,
    ) -> Result<Option<p4::Index>, ResolveError> {
        match index {
            None => Ok(None),
            Some(i) if (0..size).contains(&i) => Ok(Some(p4::Index { index: i })),
            Some(i) => Err(ResolveError::IndexOutOfRange {
                kind,
                name: name.to_string(),
                index: i,
                size,
            }),
        }
    }

    /// An indexed counter cell (`index: None` reads every cell).
    pub fn encode_counter(
        &self,
        counter: &str,
        index: Option<i64>,
        data: Option<p4::CounterData>,
    ) -> Result<p4::CounterEntry, ResolveError> {
        let info = self.counters.by_name(counter)?;
        Ok(p4::CounterEntry {
            counter_id: info.id,
            index: Self::check_index(EntityKind::Counter, &info.name, info.size, index)?,
            data,
        })
    }

    /// An indexed meter cell (`index: None` reads every cell).
    pub fn encode_meter(
        &self,
        meter: &str,
        index: Option<i64>,
        config: Option<p4::MeterConfig>,
    ) -> Result<p4::MeterEntry, ResolveError> {
        let info = self.meters.by_name(meter)?;
        Ok(p4::MeterEntry {
            meter_id: info.id,
            index: Self::check_index(EntityKind::Meter, &info.name, info.size, index)?,
            config,
            counter_data: None,
        })
    }

    /// The direct meter cell of the entry whose key is `spec` (MODIFY only).
    pub fn encode_direct_meter(
        &self,
        spec: &TableEntrySpec,
        config: Option<p4::MeterConfig>,
    ) -> Result<p4::DirectMeterEntry, ResolveError> {
        let table = self.table(&spec.table)?;
        if table.direct_meter.is_none() {
            return Err(ResolveError::NoDirectResource {
                table: table.name.clone(),
                kind: EntityKind::DirectMeter,
            });
        }
        Ok(p4::DirectMeterEntry {
            table_entry: Some(self.encode_key(spec)?),
            config,
            counter_data: None,
        })
    }

    /// The direct counter cell of the entry whose key is `spec`.
    pub fn encode_direct_counter(
        &self,
        spec: &TableEntrySpec,
        data: Option<p4::CounterData>,
    ) -> Result<p4::DirectCounterEntry, ResolveError> {
        let table = self.table(&spec.table)?;
        if table.direct_counter.is_none() {
            return Err(ResolveError::NoDirectResource {
                table: table.name.clone(),
                kind: EntityKind::DirectCounter,
            });
        }
        Ok(p4::DirectCounterEntry {
            table_entry: Some(self.encode_key(spec)?),
            data,
        })
    }
}

/// A multicast group replicating to `(port, instance)` pairs (ports as canonical bytes).
pub fn multicast_group(group_id: u32, replicas: &[(u64, u32)]) -> p4::Entity {
    use p4::packet_replication_engine_entry::Type;
    let replicas = replicas
        .iter()
        .map(|&(port, instance)| p4::Replica {
            port_kind: Some(p4::replica::PortKind::Port(bytestr::from_u64(port))),
            instance,
        })
        .collect();
    p4::Entity {
        entity: Some(p4::entity::Entity::PacketReplicationEngineEntry(
            p4::PacketReplicationEngineEntry {
                r#type: Some(Type::MulticastGroupEntry(p4::MulticastGroupEntry {
                    multicast_group_id: group_id,
                    replicas,
                })),
            },
        )),
    }
}

/// Wraps any entity message into `p4.v1.Entity`.
pub fn entity(e: p4::entity::Entity) -> p4::Entity {
    p4::Entity { entity: Some(e) }
}

impl P4InfoIndex {
    /// Configuration of a digest stream (writes are MODIFY or INSERT per target).
    pub fn encode_digest_config(
        &self,
        digest: &str,
        config: p4::digest_entry::Config,
    ) -> Result<p4::DigestEntry, ResolveError> {
        let info = self.digests.by_name(digest)?;
        Ok(p4::DigestEntry {
            digest_id: info.id,
            config: Some(config),
        })
    }
}
