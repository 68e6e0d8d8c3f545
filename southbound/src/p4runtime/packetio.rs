//! Packet I/O and digests by NAME (P4Runtime spec §16.1 packet I/O, §16.2 digests): the
//! `packet_in` / `packet_out` controller headers of the P4Info give each metadata field an id
//! and width; digests are decoded with the member names of their struct type.
//!
//! Received values are normalised to canonical byte strings; missing packet-out fields are
//! sent as 0 (padding fields such as `_pad` need not be given).

use super::bytestr;
use super::error::ResolveError;
use super::index::P4InfoIndex;
use super::proto::p4::v1 as p4;

/// A packet-in with its metadata decoded by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedPacket {
    /// The packet bytes.
    pub payload: Vec<u8>,
    /// `(field name, canonical value)` in header order.
    pub metadata: Vec<(String, Vec<u8>)>,
}

impl ReceivedPacket {
    /// The value of metadata field `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.metadata
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The value of metadata field `name` as an integer (fields up to 128 bits).
    pub fn get_u128(&self, name: &str) -> Option<u128> {
        self.get(name).and_then(bytestr::to_u128)
    }
}

/// A digest list decoded by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestReport {
    /// Digest name from the P4Info.
    pub digest: String,
    /// Digest id (needed for the ack).
    pub digest_id: u32,
    /// List id (needed for the ack).
    pub list_id: u64,
    /// One entry per packed digest: `(member name, canonical value)`.
    pub entries: Vec<Vec<(String, Vec<u8>)>>,
}

impl P4InfoIndex {
    /// Builds a packet-out; `metadata` gives `packet_out` fields by name.
    pub fn encode_packet_out(
        &self,
        payload: Vec<u8>,
        metadata: &[(&str, Vec<u8>)],
    ) -> Result<p4::PacketOut, ResolveError> {
        let header = self.header("packet_out")?;
        for (name, _) in metadata {
            if !header.fields.iter().any(|f| f.name == *name) {
                return Err(ResolveError::UnknownMetadata {
                    header: header.name.clone(),
                    field: (*name).to_string(),
                });
            }
        }
        let mut out = Vec::with_capacity(header.fields.len());
        for f in &header.fields {
            let value = match metadata.iter().find(|(n, _)| *n == f.name) {
                Some((_, v)) => {
                    if !bytestr::fits(v, f.bitwidth) {
                        return Err(ResolveError::ValueTooWide {
                            what: format!("packet_out field `{}`", f.name),
                            value: bytestr::hex(v),
                            bitwidth: f.bitwidth,
                        });
                    }
                    bytestr::canonical(v)
                }
                None => vec![0],
            };
            out.push(p4::PacketMetadata {
                metadata_id: f.id,
                value,
            });
        }
        Ok(p4::PacketOut {
            payload,
            metadata: out,
        })
    }

    /// Decodes a packet-in's metadata by name, rejecting unknown ids and over-wide values.
    pub fn decode_packet_in(&self, packet: p4::PacketIn) -> Result<ReceivedPacket, ResolveError> {
        let header = self.header("packet_in")?;
        let mut metadata = Vec::with_capacity(packet.metadata.len());
        for m in &packet.metadata {
            let Some(f) = header.fields.iter().find(|f| f.id == m.metadata_id) else {
                return Err(ResolveError::Malformed {
                    what: "packet-in",
                    why: format!("metadata id {} is not a packet_in field", m.metadata_id),
                });
            };
            if !bytestr::fits(&m.value, f.bitwidth) {
                return Err(ResolveError::Malformed {
                    what: "packet-in",
                    why: format!(
                        "field `{}` value {} exceeds {} bits",
                        f.name,
                        bytestr::hex(&m.value),
                        f.bitwidth
                    ),
                });
            }
            metadata.push((f.name.clone(), bytestr::canonical(&m.value)));
        }
        Ok(ReceivedPacket {
            payload: packet.payload,
            metadata,
        })
    }

    /// Decodes a digest list using the digest's struct member names.
    pub fn decode_digest(&self, list: &p4::DigestList) -> Result<DigestReport, ResolveError> {
        use p4::p4_data::Data;
        let info = self.digests.by_id(list.digest_id)?;
        let mut entries = Vec::with_capacity(list.data.len());
        for (n, data) in list.data.iter().enumerate() {
            let malformed = |why: String| ResolveError::Malformed {
                what: "digest list",
                why: format!("digest `{}` entry {n}: {why}", info.name),
            };
            let entry = match &data.data {
                Some(Data::Struct(s)) | Some(Data::Tuple(s)) => {
                    if !info.members.is_empty() && s.members.len() != info.members.len() {
                        return Err(malformed(format!(
                            "{} members, P4Info declares {}",
                            s.members.len(),
                            info.members.len()
                        )));
                    }
                    let mut fields = Vec::with_capacity(s.members.len());
                    for (i, m) in s.members.iter().enumerate() {
                        let (name, width) = info
                            .members
                            .get(i)
                            .cloned()
                            .unwrap_or_else(|| (format!("member{i}"), 0));
                        let Some(Data::Bitstring(v)) = &m.data else {
                            return Err(malformed(format!("member `{name}` is not a bit string")));
                        };
                        if width > 0 && !bytestr::fits(v, width) {
                            return Err(malformed(format!(
                                "member `{name}` value {} exceeds {width} bits",
                                bytestr::hex(v)
                            )));
                        }
                        fields.push((name, bytestr::canonical(v)));
                    }
                    fields
                }
                Some(Data::Bitstring(v)) => vec![(info.name.clone(), bytestr::canonical(v))],
                _ => return Err(malformed("unsupported P4Data kind".into())),
            };
            entries.push(entry);
        }
        Ok(DigestReport {
            digest: info.name.clone(),
            digest_id: list.digest_id,
            list_id: list.list_id,
            entries,
        })
    }
}

/// Rewrites every byte string of a read entity into canonical form (targets may zero-pad).
pub fn normalize_entity(entity: &mut p4::Entity) {
    use p4::entity::Entity as E;
    match entity.entity.as_mut() {
        Some(E::TableEntry(t)) => normalize_table_entry(t),
        Some(E::DirectCounterEntry(d)) => {
            if let Some(t) = d.table_entry.as_mut() {
                normalize_table_entry(t);
            }
        }
        Some(E::DirectMeterEntry(d)) => {
            if let Some(t) = d.table_entry.as_mut() {
                normalize_table_entry(t);
            }
        }
        Some(E::ActionProfileMember(m)) => {
            if let Some(a) = m.action.as_mut() {
                normalize_action(a);
            }
        }
        _ => {}
    }
}

fn normalize_action(a: &mut p4::Action) {
    for p in &mut a.params {
        bytestr::canonicalize_in_place(&mut p.value);
    }
}

fn normalize_table_entry(t: &mut p4::TableEntry) {
    use p4::field_match::FieldMatchType as F;
    use p4::table_action::Type;
    for m in &mut t.r#match {
        match m.field_match_type.as_mut() {
            Some(F::Exact(e)) => bytestr::canonicalize_in_place(&mut e.value),
            Some(F::Lpm(l)) => bytestr::canonicalize_in_place(&mut l.value),
            Some(F::Ternary(x)) => {
                bytestr::canonicalize_in_place(&mut x.value);
                bytestr::canonicalize_in_place(&mut x.mask);
            }
            Some(F::Range(r)) => {
                bytestr::canonicalize_in_place(&mut r.low);
                bytestr::canonicalize_in_place(&mut r.high);
            }
            Some(F::Optional(o)) => bytestr::canonicalize_in_place(&mut o.value),
            Some(F::Other(_)) | None => {}
        }
    }
    match t.action.as_mut().and_then(|a| a.r#type.as_mut()) {
        Some(Type::Action(a)) => normalize_action(a),
        Some(Type::ActionProfileActionSet(set)) => {
            for a in &mut set.action_profile_actions {
                if let Some(a) = a.action.as_mut() {
                    normalize_action(a);
                }
            }
        }
        _ => {}
    }
}
