//! Client arbitration of one device (P4Runtime spec §5, sans-IO): per role, the stream with the
//! highest election id is primary, provided that id is at least the highest the device has seen
//! for the role. Every change of primary is announced to all streams of the role (status OK to
//! the primary, ALREADY_EXISTS to backups, NOT_FOUND to all when no primary is left), always with
//! the highest election id seen. Two streams of one role may not share an election id.
//!
//! Decisions return the notices to send; the caller owns the streams.

use std::collections::BTreeMap;

use prescient_southbound::p4runtime::proto::google::rpc::{Code, Status};
use prescient_southbound::p4runtime::proto::p4::v1 as p4;

use super::error::EntityError;

/// Identifies one open StreamChannel.
pub type StreamId = u64;

/// An arbitration update to send on a stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// The stream to send on.
    pub stream: StreamId,
    /// The update.
    pub update: p4::MasterArbitrationUpdate,
}

#[derive(Debug, Default)]
struct Role {
    streams: BTreeMap<StreamId, Option<u128>>,
    highest: Option<u128>,
    primary: Option<StreamId>,
}

/// Arbitration state of one device.
#[derive(Debug, Default)]
pub struct Arbitration {
    device_id: u64,
    roles: BTreeMap<String, Role>,
    stream_role: BTreeMap<StreamId, String>,
}

/// Converts a proto election id.
pub fn election(id: Option<&p4::Uint128>) -> Option<u128> {
    id.map(|u| (u128::from(u.high) << 64) | u128::from(u.low))
}

fn proto_election(id: u128) -> p4::Uint128 {
    p4::Uint128 {
        high: (id >> 64) as u64,
        low: id as u64,
    }
}

impl Arbitration {
    /// Arbitration for `device_id`, no streams.
    pub fn new(device_id: u64) -> Self {
        Self {
            device_id,
            ..Self::default()
        }
    }

    fn notice(&self, role: &str, r: &Role, stream: StreamId) -> Notice {
        let (code, message) = match r.primary {
            Some(p) if p == stream => (Code::Ok, "you are the primary"),
            Some(_) => (Code::AlreadyExists, "another client is primary"),
            None => (Code::NotFound, "no primary for this role"),
        };
        Notice {
            stream,
            update: p4::MasterArbitrationUpdate {
                device_id: self.device_id,
                role: (!role.is_empty()).then(|| p4::Role {
                    name: role.to_owned(),
                    ..Default::default()
                }),
                election_id: r.highest.map(proto_election),
                status: Some(Status {
                    code: code as i32,
                    message: message.to_owned(),
                    details: vec![],
                }),
            },
        }
    }

    fn notify_all(&self, role: &str) -> Vec<Notice> {
        self.roles
            .get(role)
            .map(|r| r.streams.keys().map(|s| self.notice(role, r, *s)).collect())
            .unwrap_or_default()
    }

    /// Handles a MasterArbitrationUpdate from `stream` for `role` with `election_id`.
    pub fn update(
        &mut self,
        stream: StreamId,
        role: &str,
        election_id: Option<u128>,
    ) -> Result<Vec<Notice>, EntityError> {
        if let Some(r) = self.stream_role.get(&stream) {
            if r != role {
                return Err(EntityError::precondition(format!(
                    "stream is arbitrated for role `{r}`, cannot switch to `{role}`"
                )));
            }
        }
        let r = self.roles.entry(role.to_owned()).or_default();
        if let Some(e) = election_id {
            if r.streams
                .iter()
                .any(|(s, id)| *s != stream && *id == Some(e))
            {
                return Err(EntityError::invalid(format!(
                    "election id {e} is already used by another client of role `{role}`"
                )));
            }
        }
        self.stream_role.insert(stream, role.to_owned());
        r.streams.insert(stream, election_id);
        let was_primary = r.primary == Some(stream);
        match election_id {
            Some(e) if r.highest.is_none_or(|h| e >= h) => {
                r.highest = Some(e);
                let changed = r.primary != Some(stream);
                r.primary = Some(stream);
                if changed {
                    return Ok(self.notify_all(role));
                }
            }
            _ if was_primary => {
                r.primary = None;
                return Ok(self.notify_all(role));
            }
            _ => {}
        }
        let r = self
            .roles
            .get(role)
            .ok_or_else(|| EntityError::invalid("role vanished"))?;
        Ok(vec![self.notice(role, r, stream)])
    }

    /// Forgets a closed stream; announces the loss of the primary.
    pub fn remove(&mut self, stream: StreamId) -> Vec<Notice> {
        let Some(role) = self.stream_role.remove(&stream) else {
            return vec![];
        };
        let Some(r) = self.roles.get_mut(&role) else {
            return vec![];
        };
        r.streams.remove(&stream);
        if r.primary == Some(stream) {
            r.primary = None;
            return self.notify_all(&role);
        }
        vec![]
    }

    /// Refuses a write unless `election_id` is the primary's for `role` (spec §5.4).
    pub fn check_primary(&self, role: &str, election_id: Option<u128>) -> Result<(), EntityError> {
        let denied = |why: String| Err(EntityError::new(Code::PermissionDenied, why));
        let Some(r) = self.roles.get(role) else {
            return denied(format!("no client has arbitrated for role `{role}`"));
        };
        let Some(p) = r.primary else {
            return denied(format!("role `{role}` has no primary"));
        };
        let primary_id = r.streams.get(&p).copied().flatten();
        if election_id.is_some() && election_id == primary_id {
            Ok(())
        } else {
            denied(format!(
                "election id {election_id:?} is not the primary's for role `{role}`"
            ))
        }
    }

    /// Streams that receive packet-ins and digests: the primary of every role.
    pub fn primaries(&self) -> Vec<StreamId> {
        self.roles.values().filter_map(|r| r.primary).collect()
    }

    /// The clients of `role`: each stream's election id and whether it is the primary.
    pub fn clients(&self, role: &str) -> Vec<(Option<u128>, bool)> {
        self.roles
            .get(role)
            .map(|r| {
                r.streams
                    .iter()
                    .map(|(s, id)| (*id, r.primary == Some(*s)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `stream` has arbitrated.
    pub fn knows(&self, stream: StreamId) -> bool {
        self.stream_role.contains_key(&stream)
    }

    /// Whether `stream` is the primary of its role.
    pub fn is_primary(&self, stream: StreamId) -> bool {
        self.stream_role
            .get(&stream)
            .and_then(|r| self.roles.get(r))
            .is_some_and(|r| r.primary == Some(stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(n: &Notice) -> i32 {
        n.update.status.as_ref().map_or(-1, |s| s.code)
    }

    #[test]
    fn highest_election_id_wins_and_everyone_is_told() {
        let mut a = Arbitration::new(1);
        let n = a.update(1, "", Some(10)).unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(code(&n[0]), Code::Ok as i32);
        let n = a.update(2, "", Some(5)).unwrap();
        assert_eq!((n[0].stream, code(&n[0])), (2, Code::AlreadyExists as i32));
        assert_eq!(election(n[0].update.election_id.as_ref()), Some(10));
        // A higher id takes over; the old primary learns it lost.
        let n = a.update(3, "", Some(20)).unwrap();
        assert_eq!(n.len(), 3);
        assert!(n
            .iter()
            .any(|n| n.stream == 1 && code(n) == Code::AlreadyExists as i32));
        assert!(n
            .iter()
            .any(|n| n.stream == 3 && code(n) == Code::Ok as i32));
        assert!(a.check_primary("", Some(20)).is_ok());
        assert_eq!(
            a.check_primary("", Some(10)).unwrap_err().code,
            Code::PermissionDenied
        );
    }

    #[test]
    fn duplicate_election_id_is_refused() {
        let mut a = Arbitration::new(1);
        a.update(1, "", Some(7)).unwrap();
        let err = a.update(2, "", Some(7)).unwrap_err();
        assert_eq!(err.code, Code::InvalidArgument);
        // Same id in another role is fine.
        assert!(a.update(2, "monitor", Some(7)).is_ok());
    }

    #[test]
    fn primary_leaving_leaves_no_primary_until_someone_claims() {
        let mut a = Arbitration::new(1);
        a.update(1, "", Some(10)).unwrap();
        a.update(2, "", Some(5)).unwrap();
        let n = a.remove(1);
        assert_eq!(n.len(), 1);
        assert_eq!((n[0].stream, code(&n[0])), (2, Code::NotFound as i32));
        assert!(a.check_primary("", Some(5)).is_err());
        // Reclaiming needs an id at least the highest seen.
        let n = a.update(2, "", Some(10)).unwrap();
        assert_eq!(code(&n[0]), Code::Ok as i32);
        assert!(a.is_primary(2));
    }
}
