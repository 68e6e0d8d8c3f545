//! Client arbitration (P4Runtime spec §5, "Client Arbitration and Controller Replication"),
//! as a sans-IO state machine: it builds the `MasterArbitrationUpdate` to send and interprets
//! the ones the target sends back, without touching the network.
//!
//! The target answers every client of a (device, role) after each change: status OK to the
//! primary (highest election id), ALREADY_EXISTS to backups while a primary exists, NOT_FOUND
//! when there is none; `election_id` carries the highest id it has seen. A non-OK status that
//! carries OUR election id means another client holds the same id: that is an error, never a
//! reason to believe we are primary.

use super::proto::p4::v1 as p4;

/// Our standing with the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mastership {
    /// No answer yet, or the stream is gone.
    Unknown,
    /// We are primary: writes are allowed.
    Primary,
    /// Another client (with the given election id, if known) is primary, or none is.
    Backup {
        /// The primary's election id, when one exists.
        primary: Option<u128>,
    },
}

impl Mastership {
    /// Whether writes are allowed.
    pub fn is_primary(self) -> bool {
        self == Self::Primary
    }
}

/// What an arbitration update changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArbitrationOutcome {
    /// Our standing is now this (may equal the previous one).
    Standing(Mastership),
    /// Another client holds our election id.
    DuplicateElectionId,
    /// The update was for another device or role and is ignored.
    Ignored,
}

/// Converts a `u128` to the wire form.
pub fn to_uint128(v: u128) -> p4::Uint128 {
    p4::Uint128 {
        high: (v >> 64) as u64,
        low: v as u64,
    }
}

/// Converts the wire form to a `u128`.
pub fn from_uint128(v: &p4::Uint128) -> u128 {
    (u128::from(v.high) << 64) | u128::from(v.low)
}

/// The arbitration state of one client session.
#[derive(Debug, Clone)]
pub struct Arbitration {
    device_id: u64,
    election_id: u128,
    role: Option<String>,
    standing: Mastership,
}

impl Arbitration {
    /// A session for `device_id` with `election_id` and an optional role name.
    pub fn new(device_id: u64, election_id: u128, role: Option<String>) -> Self {
        Self {
            device_id,
            election_id,
            role,
            standing: Mastership::Unknown,
        }
    }

    /// Current standing.
    pub fn standing(&self) -> Mastership {
        self.standing
    }

    /// Our election id.
    pub fn election_id(&self) -> u128 {
        self.election_id
    }

    /// Changes our election id (e.g. to take over as primary); send [`Self::request`] next.
    pub fn set_election_id(&mut self, election_id: u128) {
        self.election_id = election_id;
    }

    /// The role name sent with writes ("" for the default role).
    pub fn role_name(&self) -> &str {
        self.role.as_deref().unwrap_or("")
    }

    /// The arbitration message to send (on stream open and after changing the id).
    pub fn request(&self) -> p4::StreamMessageRequest {
        p4::StreamMessageRequest {
            update: Some(p4::stream_message_request::Update::Arbitration(
                p4::MasterArbitrationUpdate {
                    device_id: self.device_id,
                    role: self.role.as_ref().map(|name| p4::Role {
                        name: name.clone(),
                        ..Default::default()
                    }),
                    election_id: Some(to_uint128(self.election_id)),
                    status: None,
                },
            )),
        }
    }

    /// Applies an update received from the target.
    pub fn on_update(&mut self, update: &p4::MasterArbitrationUpdate) -> ArbitrationOutcome {
        let their_role = update.role.as_ref().map(|r| r.name.as_str()).unwrap_or("");
        if update.device_id != self.device_id || their_role != self.role_name() {
            return ArbitrationOutcome::Ignored;
        }
        let highest = update.election_id.as_ref().map(from_uint128);
        let code = update
            .status
            .as_ref()
            .map(|s| tonic::Code::from_i32(s.code))
            .unwrap_or(tonic::Code::Ok);
        if code == tonic::Code::Ok {
            self.standing = Mastership::Primary;
            return ArbitrationOutcome::Standing(self.standing);
        }
        if highest == Some(self.election_id) {
            self.standing = Mastership::Unknown;
            return ArbitrationOutcome::DuplicateElectionId;
        }
        self.standing = Mastership::Backup {
            primary: if code == tonic::Code::NotFound {
                None
            } else {
                highest
            },
        };
        ArbitrationOutcome::Standing(self.standing)
    }

    /// The stream ended: our standing is unknown until we arbitrate again.
    pub fn on_disconnect(&mut self) {
        self.standing = Mastership::Unknown;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p4runtime::proto::google::rpc;

    fn update(election: u128, code: tonic::Code) -> p4::MasterArbitrationUpdate {
        p4::MasterArbitrationUpdate {
            device_id: 1,
            role: None,
            election_id: Some(to_uint128(election)),
            status: Some(rpc::Status {
                code: code as i32,
                message: String::new(),
                details: vec![],
            }),
        }
    }

    #[test]
    fn uint128_round_trip() {
        let v = (7u128 << 64) | 9;
        assert_eq!(from_uint128(&to_uint128(v)), v);
        assert_eq!(to_uint128(v).high, 7);
    }

    #[test]
    fn ok_means_primary_then_losing_it() {
        let mut a = Arbitration::new(1, 10, None);
        assert_eq!(a.standing(), Mastership::Unknown);
        assert_eq!(
            a.on_update(&update(10, tonic::Code::Ok)),
            ArbitrationOutcome::Standing(Mastership::Primary)
        );
        assert!(a.standing().is_primary());
        // A client with id 20 arrives: we are told someone else is primary.
        a.on_update(&update(20, tonic::Code::AlreadyExists));
        assert_eq!(a.standing(), Mastership::Backup { primary: Some(20) });
        a.on_disconnect();
        assert_eq!(a.standing(), Mastership::Unknown);
    }

    #[test]
    fn same_id_with_error_is_a_duplicate() {
        let mut a = Arbitration::new(1, 10, None);
        assert_eq!(
            a.on_update(&update(10, tonic::Code::AlreadyExists)),
            ArbitrationOutcome::DuplicateElectionId
        );
        assert!(!a.standing().is_primary());
    }

    #[test]
    fn other_devices_and_roles_are_ignored() {
        let mut a = Arbitration::new(2, 10, Some("ops".into()));
        assert_eq!(
            a.on_update(&update(10, tonic::Code::Ok)),
            ArbitrationOutcome::Ignored
        );
        let mut u = update(10, tonic::Code::Ok);
        u.device_id = 2;
        assert_eq!(a.on_update(&u), ArbitrationOutcome::Ignored, "role differs");
        u.role = Some(p4::Role {
            name: "ops".into(),
            ..Default::default()
        });
        assert!(matches!(
            a.on_update(&u),
            ArbitrationOutcome::Standing(Mastership::Primary)
        ));
    }
}
