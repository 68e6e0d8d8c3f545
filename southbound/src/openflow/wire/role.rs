//! ROLE_REQUEST / ROLE_REPLY (OpenFlow 1.3.5 §7.3.9): `role:32`, pad 4, `generation_id:64`.

use super::body::body_api;
use super::cursor::{Reader, Writer};
use super::enums::wire_enum;
use super::wire_error::Result;

wire_enum! {
    /// `ofp_controller_role`.
    pub enum ControllerRole: u32 {
        NoChange = 0 => "NOCHANGE",
        Equal = 1 => "EQUAL",
        Master = 2 => "MASTER",
        Slave = 3 => "SLAVE",
    }
}

/// Body of ROLE_REQUEST and ROLE_REPLY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    /// Requested or granted role.
    pub role: ControllerRole,
    /// Master election generation id (ignored for EQUAL/NOCHANGE).
    pub generation_id: u64,
}

impl Role {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Role> {
        let role = ControllerRole::from(r.u32("role")?);
        r.skip(4, "pad")?;
        Ok(Role {
            role,
            generation_id: r.u64("generation_id")?,
        })
    }

    fn body_len(&self) -> usize {
        16
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u32(self.role.into());
        w.zeros(4);
        w.u64(self.generation_id);
    }
}

body_api!(Role, "ROLE");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_role_bytes() {
        let r = Role {
            role: ControllerRole::Master,
            generation_id: 5,
        };
        let mut out = [0u8; 16];
        r.emit(&mut out);
        assert_eq!(out, [0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(Role::parse(&out).unwrap(), r);
        let e = Role::parse(&out[..12]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ROLE: generation_id needs 8 bytes, only 4 remain"
        );
    }
}
