//! GROUP_MOD (OpenFlow 1.3.5 §7.3.4.2): `command:16`, `type:8`, pad 1, `group_id:32`, buckets.
//! A bucket is `len:16`, `weight:16`, `watch_port:32`, `watch_group:32`, pad 4, actions; the same
//! bucket layout appears in the GROUP_DESC multipart reply.

use super::action::{actions_len, read_actions, write_actions, Action};
use super::body::body_api;
use super::cursor::{Reader, Writer};
use super::enums::wire_enum;
use super::types::{GroupId, PortNo};
use super::wire_error::{Result, WireError};

/// Size of a bucket without its actions.
pub const BUCKET_FIXED_LEN: usize = 16;

wire_enum! {
    /// `ofp_group_mod_command`.
    pub enum GroupCommand: u16 {
        Add = 0 => "ADD",
        Modify = 1 => "MODIFY",
        Delete = 2 => "DELETE",
    }
}

wire_enum! {
    /// `ofp_group_type`.
    pub enum GroupType: u8 {
        All = 0 => "ALL",
        Select = 1 => "SELECT",
        Indirect = 2 => "INDIRECT",
        FastFailover = 3 => "FF",
    }
}

/// One bucket of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Relative weight (select groups).
    pub weight: u16,
    /// Port whose liveness gates the bucket (fast-failover), or `ANY`.
    pub watch_port: PortNo,
    /// Group whose liveness gates the bucket, or `ANY`.
    pub watch_group: GroupId,
    /// Actions of the bucket.
    pub actions: Vec<Action>,
}

impl Bucket {
    /// A bucket with `weight` and no watch port or group.
    pub fn weighted(weight: u16, actions: Vec<Action>) -> Bucket {
        Bucket {
            weight,
            watch_port: PortNo::ANY,
            watch_group: GroupId::ANY,
            actions,
        }
    }

    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        BUCKET_FIXED_LEN + actions_len(&self.actions)
    }

    /// Reads bucket number `index`.
    pub(crate) fn read(r: &mut Reader<'_>, index: usize) -> Result<Bucket> {
        let remaining = r.remaining();
        let len = usize::from(r.u16("bucket len")?);
        if len < BUCKET_FIXED_LEN {
            return Err(WireError::BadElementLength {
                msg: r.msg,
                what: "bucket",
                index,
                kind: "ofp_bucket",
                len,
                why: "shorter than the 16-byte bucket header",
            });
        }
        if len > remaining {
            return Err(WireError::ElementOverrun {
                msg: r.msg,
                what: "bucket",
                index,
                kind: "ofp_bucket",
                len,
                remaining,
            });
        }
        let mut b = r.sub(len - 2, "bucket")?;
        let weight = b.u16("weight")?;
        let watch_port = PortNo(b.u32("watch_port")?);
        let watch_group = GroupId(b.u32("watch_group")?);
        b.skip(4, "pad")?;
        let actions = read_actions(&mut b)?;
        Ok(Bucket {
            weight,
            watch_port,
            watch_group,
            actions,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.len16(self.buffer_len());
        w.u16(self.weight);
        w.u32(self.watch_port.0);
        w.u32(self.watch_group.0);
        w.zeros(4);
        write_actions(&self.actions, w);
    }
}

/// Reads buckets until the reader is exhausted.
pub(crate) fn read_buckets(r: &mut Reader<'_>) -> Result<Vec<Bucket>> {
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(Bucket::read(r, out.len())?);
    }
    Ok(out)
}

/// Encoded size of a bucket list.
pub fn buckets_len(buckets: &[Bucket]) -> usize {
    buckets.iter().map(Bucket::buffer_len).sum()
}

/// A GROUP_MOD message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMod {
    /// Add, modify or delete.
    pub command: GroupCommand,
    /// Group type.
    pub group_type: GroupType,
    /// Group id.
    pub group_id: GroupId,
    /// Buckets.
    pub buckets: Vec<Bucket>,
}

impl GroupMod {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<GroupMod> {
        let command = GroupCommand::from(r.u16("command")?);
        let group_type = GroupType::from(r.u8("type")?);
        r.skip(1, "pad")?;
        let group_id = GroupId(r.u32("group_id")?);
        let buckets = read_buckets(r)?;
        Ok(GroupMod {
            command,
            group_type,
            group_id,
            buckets,
        })
    }

    fn body_len(&self) -> usize {
        8 + buckets_len(&self.buckets)
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u16(self.command.into());
        w.u8(self.group_type.into());
        w.zeros(1);
        w.u32(self.group_id.0);
        for b in &self.buckets {
            b.write(w);
        }
    }
}

body_api!(GroupMod, "GROUP_MOD");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_group_bytes() {
        let g = GroupMod {
            command: GroupCommand::Add,
            group_type: GroupType::Select,
            group_id: GroupId(1),
            buckets: vec![Bucket::weighted(10, vec![Action::output(PortNo(2))])],
        };
        let mut out = vec![0u8; g.buffer_len()];
        g.emit(&mut out);
        assert_eq!(
            &out[..24],
            &[
                0, 0, 1, 0, 0, 0, 0, 1, // command, type, pad, group
                0, 32, 0, 10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0
            ]
        );
        assert_eq!(GroupMod::parse(&out).unwrap(), g);
    }

    #[test]
    fn short_bucket_is_rejected() {
        let body = [0, 0, 1, 0, 0, 0, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0];
        let e = GroupMod::parse(&body).unwrap_err();
        assert!(
            matches!(
                e,
                WireError::BadElementLength {
                    what: "bucket",
                    len: 8,
                    ..
                }
            ),
            "{e}"
        );
        let body = [0, 0, 1, 0, 0, 0, 0, 1, 0, 40, 0, 0, 0, 0, 0, 0];
        let e = GroupMod::parse(&body).unwrap_err();
        assert!(
            matches!(
                e,
                WireError::ElementOverrun {
                    what: "bucket",
                    len: 40,
                    ..
                }
            ),
            "{e}"
        );
    }
}
