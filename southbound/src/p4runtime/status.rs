//! Per-update results of a batched Write (P4Runtime spec §12.3, "Error reporting"): a failed
//! Write returns a gRPC status whose `grpc-status-details-bin` is a `google.rpc.Status` with
//! one `p4.v1.Error` per update, in batch order (OK for the updates that succeeded). This
//! module fills a [`WriteError`] naming each failed update by index and entity.

use prost::Message;

use super::bytestr;
use super::error::{UpdateFailure, WriteError};
use super::index::P4InfoIndex;
use super::proto::google::rpc;
use super::proto::p4::v1 as p4;

const P4_ERROR_TYPE: &str = "p4.v1.Error";

impl WriteError {
    /// Builds the error for `updates` from the status a Write returned.
    pub fn from_status(
        status: &tonic::Status,
        updates: &[p4::Update],
        index: Option<&P4InfoIndex>,
    ) -> Self {
        let mut err = Self {
            batch_len: updates.len(),
            code: status.code(),
            message: status.message().to_string(),
            failures: Vec::new(),
            applied: vec![false; updates.len()],
        };
        let Some(errors) = decode_details(status.details()) else {
            return err;
        };
        // Targets must send one detail per update; if the count is off we cannot tell which
        // update an error belongs to, so nothing is claimed as applied.
        if errors.len() != updates.len() {
            err.message.push_str(&format!(
                " (target sent {} error details for {} updates)",
                errors.len(),
                updates.len()
            ));
            return err;
        }
        for (i, (e, u)) in errors.iter().zip(updates).enumerate() {
            let code = tonic::Code::from_i32(e.canonical_code);
            if code == tonic::Code::Ok {
                if let Some(slot) = err.applied.get_mut(i) {
                    *slot = true;
                }
                continue;
            }
            err.failures.push(UpdateFailure {
                index: i,
                op: p4::update::Type::try_from(u.r#type).unwrap_or(p4::update::Type::Unspecified),
                entity: describe(u.entity.as_ref(), index),
                code,
                message: e.message.clone(),
            });
        }
        err
    }
}

/// Decodes the `p4.v1.Error` list from `grpc-status-details-bin`, if present and well-formed.
pub fn decode_details(details: &[u8]) -> Option<Vec<p4::Error>> {
    if details.is_empty() {
        return None;
    }
    let status = rpc::Status::decode(details).ok()?;
    status
        .details
        .iter()
        .map(|any| {
            if any.type_url.rsplit('/').next() == Some(P4_ERROR_TYPE) {
                p4::Error::decode(any.value.as_slice()).ok()
            } else {
                None
            }
        })
        .collect()
}

/// Encodes per-update errors as `grpc-status-details-bin` (what a target sends; used by
/// emulated targets and tests).
pub fn encode_details(code: tonic::Code, message: &str, errors: &[p4::Error]) -> Vec<u8> {
    rpc::Status {
        code: code as i32,
        message: message.to_string(),
        details: errors
            .iter()
            .map(|e| prost_types::Any {
                type_url: format!("type.googleapis.com/{P4_ERROR_TYPE}"),
                value: e.encode_to_vec(),
            })
            .collect(),
    }
    .encode_to_vec()
}

/// A short human description of an entity, using names when `index` knows them.
pub fn describe(entity: Option<&p4::Entity>, index: Option<&P4InfoIndex>) -> String {
    use p4::entity::Entity as E;
    let Some(e) = entity.and_then(|e| e.entity.as_ref()) else {
        return "(no entity)".into();
    };
    let table_name = |id: u32| {
        index
            .and_then(|ix| ix.tables.by_id(id).ok())
            .map(|t| t.name.clone())
            .unwrap_or_else(|| format!("{id:#010x}"))
    };
    match e {
        E::TableEntry(t) => describe_table_entry(t, index, &table_name(t.table_id)),
        E::ActionProfileMember(m) => format!(
            "action profile {} member {}",
            profile_name(m.action_profile_id, index),
            m.member_id
        ),
        E::ActionProfileGroup(g) => format!(
            "action profile {} group {}",
            profile_name(g.action_profile_id, index),
            g.group_id
        ),
        E::MeterEntry(m) => format!(
            "meter {:#010x}[{}]",
            m.meter_id,
            m.index.map(|i| i.index.to_string()).unwrap_or("*".into())
        ),
        E::CounterEntry(c) => format!(
            "counter {:#010x}[{}]",
            c.counter_id,
            c.index.map(|i| i.index.to_string()).unwrap_or("*".into())
        ),
        E::DirectMeterEntry(d) => match &d.table_entry {
            Some(t) => format!(
                "direct meter of {}",
                describe_table_entry(t, index, &table_name(t.table_id))
            ),
            None => "direct meter (no table entry)".into(),
        },
        E::DirectCounterEntry(d) => match &d.table_entry {
            Some(t) => format!(
                "direct counter of {}",
                describe_table_entry(t, index, &table_name(t.table_id))
            ),
            None => "direct counter (no table entry)".into(),
        },
        E::PacketReplicationEngineEntry(p) => match &p.r#type {
            Some(p4::packet_replication_engine_entry::Type::MulticastGroupEntry(m)) => {
                format!("multicast group {}", m.multicast_group_id)
            }
            Some(p4::packet_replication_engine_entry::Type::CloneSessionEntry(c)) => {
                format!("clone session {}", c.session_id)
            }
            None => "packet replication entry (empty)".into(),
        },
        E::ExternEntry(x) => format!("extern {:#x}/{:#x}", x.extern_type_id, x.extern_id),
        E::ValueSetEntry(v) => format!("value set {:#010x}", v.value_set_id),
        E::RegisterEntry(r) => format!("register {:#010x}", r.register_id),
        E::DigestEntry(d) => format!("digest {:#010x}", d.digest_id),
    }
}

fn profile_name(id: u32, index: Option<&P4InfoIndex>) -> String {
    index
        .and_then(|ix| ix.profiles.by_id(id).ok())
        .map(|p| p.name.clone())
        .unwrap_or_else(|| format!("{id:#010x}"))
}

fn describe_table_entry(t: &p4::TableEntry, index: Option<&P4InfoIndex>, name: &str) -> String {
    use p4::field_match::FieldMatchType as F;
    if t.is_default_action {
        return format!("table {name} default entry");
    }
    let table = index.and_then(|ix| ix.tables.by_id(t.table_id).ok());
    let mut parts = Vec::with_capacity(t.r#match.len());
    for m in &t.r#match {
        let field = table
            .and_then(|tb| tb.fields.iter().find(|f| f.id == m.field_id))
            .map(|f| f.name.clone())
            .unwrap_or_else(|| format!("field {}", m.field_id));
        let value = match &m.field_match_type {
            Some(F::Exact(e)) => bytestr::hex(&e.value),
            Some(F::Lpm(l)) => format!("{}/{}", bytestr::hex(&l.value), l.prefix_len),
            Some(F::Ternary(t)) => {
                format!("{}&&&{}", bytestr::hex(&t.value), bytestr::hex(&t.mask))
            }
            Some(F::Range(r)) => format!("{}..{}", bytestr::hex(&r.low), bytestr::hex(&r.high)),
            Some(F::Optional(o)) => bytestr::hex(&o.value),
            Some(F::Other(_)) | None => "?".into(),
        };
        parts.push(format!("{field}={value}"));
    }
    if t.priority != 0 {
        parts.push(format!("priority={}", t.priority));
    }
    format!("table {name} [{}]", parts.join(", "))
}
