//! Action profiles of a device: members and groups (spec §9.2), with the references entries
//! and groups hold to them checked before a delete.

use prescient_southbound::p4runtime::proto::p4::v1 as p4;

use super::{DeviceState, Group, Member};
use crate::p4rt::error::EntityError;
use crate::p4rt::schema::ProfileInfo;
use crate::p4rt::table::{bind_action, EntryAction};

impl DeviceState {
    fn profile(&self, id: u32) -> Result<&ProfileInfo, EntityError> {
        self.schema
            .profiles
            .get(&id)
            .ok_or_else(|| EntityError::invalid(format!("unknown action profile id {id:#010x}")))
    }

    fn member_in_use(&self, profile: u32, member: u32) -> bool {
        self.groups
            .iter()
            .any(|((p, _), g)| *p == profile && g.members.iter().any(|(m, _)| *m == member))
            || self
                .profile_entries(profile)
                .any(|a| *a == EntryAction::Member(member))
    }

    fn profile_entries(&self, profile: u32) -> impl Iterator<Item = &EntryAction> {
        self.schema
            .tables
            .values()
            .filter(move |t| t.implementation == Some(profile))
            .filter_map(|t| self.tables.get(&t.id))
            .flat_map(|ts| ts.entries.values().map(|e| &e.action))
    }

    pub(super) fn write_member(
        &mut self,
        t: p4::update::Type,
        m: &p4::ActionProfileMember,
    ) -> Result<(), EntityError> {
        use p4::update::Type as U;
        let profile = self.profile(m.action_profile_id)?.clone();
        let key = (profile.id, m.member_id);
        let exists = self.members.contains_key(&key);
        match t {
            U::Delete => {
                if !exists {
                    return Err(EntityError::not_found(format!(
                        "profile `{}`: member {} does not exist",
                        profile.name, m.member_id
                    )));
                }
                if self.member_in_use(profile.id, m.member_id) {
                    return Err(EntityError::precondition(format!(
                        "profile `{}`: member {} is used by a group or table entry",
                        profile.name, m.member_id
                    )));
                }
                self.members.remove(&key);
                Ok(())
            }
            _ => {
                if t == U::Insert && exists {
                    return Err(EntityError::exists(format!(
                        "profile `{}`: member {} exists",
                        profile.name, m.member_id
                    )));
                }
                if t == U::Modify && !exists {
                    return Err(EntityError::not_found(format!(
                        "profile `{}`: member {} does not exist",
                        profile.name, m.member_id
                    )));
                }
                let count = self
                    .members
                    .keys()
                    .filter(|(p, _)| *p == profile.id)
                    .count();
                if t == U::Insert && count as u64 >= profile.size {
                    return Err(EntityError::exhausted(format!(
                        "profile `{}` is full ({} members)",
                        profile.name, profile.size
                    )));
                }
                let Some(action) = &m.action else {
                    return Err(EntityError::invalid(format!(
                        "profile `{}`: member {} without an action",
                        profile.name, m.member_id
                    )));
                };
                let table = profile
                    .table_ids
                    .first()
                    .and_then(|id| self.schema.tables.get(id));
                let (bound, proto) = bind_action(&self.schema, table, action, false)?;
                self.members.insert(
                    key,
                    Member {
                        action: bound,
                        proto,
                    },
                );
                Ok(())
            }
        }
    }

    pub(super) fn write_group(
        &mut self,
        t: p4::update::Type,
        g: &p4::ActionProfileGroup,
    ) -> Result<(), EntityError> {
        use p4::update::Type as U;
        let profile = self.profile(g.action_profile_id)?.clone();
        if !profile.with_selector {
            return Err(EntityError::invalid(format!(
                "profile `{}` has no selector: groups are not allowed",
                profile.name
            )));
        }
        let key = (profile.id, g.group_id);
        let exists = self.groups.contains_key(&key);
        if t == U::Delete {
            if !exists {
                return Err(EntityError::not_found(format!(
                    "profile `{}`: group {} does not exist",
                    profile.name, g.group_id
                )));
            }
            if self
                .profile_entries(profile.id)
                .any(|a| *a == EntryAction::Group(g.group_id))
            {
                return Err(EntityError::precondition(format!(
                    "profile `{}`: group {} is used by a table entry",
                    profile.name, g.group_id
                )));
            }
            self.groups.remove(&key);
            return Ok(());
        }
        if t == U::Insert && exists {
            return Err(EntityError::exists(format!(
                "profile `{}`: group {} exists",
                profile.name, g.group_id
            )));
        }
        if t == U::Modify && !exists {
            return Err(EntityError::not_found(format!(
                "profile `{}`: group {} does not exist",
                profile.name, g.group_id
            )));
        }
        let limit = profile.max_group_size;
        if limit > 0 && g.max_size > limit as i32 {
            return Err(EntityError::exhausted(format!(
                "profile `{}`: group max_size {} exceeds the profile's max group size {limit}",
                profile.name, g.max_size
            )));
        }
        let cap = if g.max_size > 0 {
            g.max_size as usize
        } else {
            limit as usize
        };
        if cap > 0 && g.members.len() > cap {
            return Err(EntityError::exhausted(format!(
                "profile `{}`: group {} has {} members, at most {cap} allowed",
                profile.name,
                g.group_id,
                g.members.len()
            )));
        }
        let mut members = Vec::with_capacity(g.members.len());
        for m in &g.members {
            if !self.members.contains_key(&(profile.id, m.member_id)) {
                return Err(EntityError::not_found(format!(
                    "profile `{}`: member {} does not exist",
                    profile.name, m.member_id
                )));
            }
            let weight = u32::try_from(m.weight)
                .ok()
                .filter(|w| *w > 0)
                .ok_or_else(|| {
                    EntityError::invalid(format!(
                        "group {} member {}: weight must be > 0, got {}",
                        g.group_id, m.member_id, m.weight
                    ))
                })?;
            if members.iter().any(|(id, _)| *id == m.member_id) {
                return Err(EntityError::invalid(format!(
                    "group {}: member {} listed twice",
                    g.group_id, m.member_id
                )));
            }
            members.push((m.member_id, weight));
        }
        self.groups.insert(
            key,
            Group {
                members,
                max_size: g.max_size,
            },
        );
        Ok(())
    }
}
