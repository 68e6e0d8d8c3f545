//! Requests that expect an answer, and the answers, assembled.

use crate::openflow::wire::multipart::MultipartReplyBody;
use crate::openflow::wire::{MultipartRequestBody, Role};

/// A request to a switch whose answer the caller awaits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A multipart (stats/description) request; the reply is assembled across REPLY_MORE.
    Multipart(MultipartRequestBody),
    /// BARRIER_REQUEST: answered once the switch processed everything sent before it.
    Barrier,
    /// ROLE_REQUEST (master/slave/equal with a generation id).
    Role(Role),
}

impl Request {
    /// Spec name, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Multipart(_) => "MULTIPART_REQUEST",
            Request::Barrier => "BARRIER_REQUEST",
            Request::Role(_) => "ROLE_REQUEST",
        }
    }
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Every part of a multipart reply, merged into one body.
    Multipart(MultipartReplyBody),
    /// BARRIER_REPLY.
    Barrier,
    /// ROLE_REPLY: the role the switch granted.
    Role(Role),
}

/// Appends the entries of a later part to the assembled body; single-valued bodies (DESC,
/// AGGREGATE) keep the latest part. Returns false when the part's type differs.
pub fn merge(into: &mut MultipartReplyBody, part: MultipartReplyBody) -> bool {
    use MultipartReplyBody as B;
    match (into, part) {
        (B::Flow(a), B::Flow(b)) => a.extend(b),
        (B::Table(a), B::Table(b)) => a.extend(b),
        (B::PortStats(a), B::PortStats(b)) => a.extend(b),
        (B::PortDesc(a), B::PortDesc(b)) => a.extend(b),
        (B::GroupDesc(a), B::GroupDesc(b)) => a.extend(b),
        (B::Meter(a), B::Meter(b)) => a.extend(b),
        (B::MeterConfig(a), B::MeterConfig(b)) => a.extend(b),
        (a @ B::Desc(_), b @ B::Desc(_)) | (a @ B::Aggregate(_), b @ B::Aggregate(_)) => *a = b,
        (
            B::Unknown {
                mp_type: ta,
                body: a,
            },
            B::Unknown {
                mp_type: tb,
                body: b,
            },
        ) if *ta == tb => {
            let mut joined = Vec::with_capacity(a.len() + b.len());
            joined.extend_from_slice(a);
            joined.extend_from_slice(&b);
            *a = joined.into();
        }
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::wire::{Port, PortNo};

    #[test]
    fn parts_of_the_same_type_concatenate_and_others_refuse() {
        let p = |n| Port {
            port_no: PortNo(n),
            ..Port::default()
        };
        let mut body = MultipartReplyBody::PortDesc(vec![p(1)]);
        assert!(merge(
            &mut body,
            MultipartReplyBody::PortDesc(vec![p(2), p(3)])
        ));
        assert_eq!(body, MultipartReplyBody::PortDesc(vec![p(1), p(2), p(3)]));
        assert!(!merge(&mut body, MultipartReplyBody::PortStats(Vec::new())));
    }
}
