//! Cells and configs of a device written with MODIFY only or keyed by id: indexed and direct
//! counters and meters, the packet replication engine, digest configs.

use std::collections::BTreeMap;

use prescient_southbound::p4runtime::proto::google::rpc::Code;
use prescient_southbound::p4runtime::proto::p4::v1 as p4;

use super::DeviceState;
use crate::p4rt::error::EntityError;

impl DeviceState {
    pub(super) fn write_counter(
        &mut self,
        t: p4::update::Type,
        c: &p4::CounterEntry,
    ) -> Result<(), EntityError> {
        modify_only(t, "counter entries")?;
        let info = self
            .schema
            .counters
            .get(&c.counter_id)
            .ok_or_else(|| {
                EntityError::invalid(format!("unknown counter id {:#010x}", c.counter_id))
            })?
            .clone();
        let cells = self.counters.entry(info.id).or_default();
        let i = index("counter", &info.name, c.index.as_ref(), cells.len())?;
        if let Some(cell) = cells.get_mut(i) {
            *cell = c.data.unwrap_or_default();
        }
        Ok(())
    }

    pub(super) fn write_direct_counter(
        &mut self,
        t: p4::update::Type,
        c: &p4::DirectCounterEntry,
    ) -> Result<(), EntityError> {
        modify_only(t, "direct counter entries")?;
        let e = c
            .table_entry
            .as_ref()
            .ok_or_else(|| EntityError::invalid("direct counter entry without a table entry"))?;
        if self.table(e.table_id)?.direct_counter.is_none() {
            return Err(EntityError::invalid(format!(
                "table `{}` has no direct counter",
                self.table(e.table_id)?.name
            )));
        }
        self.find_entry_mut(e)?.counter = c.data.unwrap_or_default();
        Ok(())
    }

    pub(super) fn write_meter(
        &mut self,
        t: p4::update::Type,
        m: &p4::MeterEntry,
    ) -> Result<(), EntityError> {
        modify_only(t, "meter entries")?;
        let info = self
            .schema
            .meters
            .get(&m.meter_id)
            .ok_or_else(|| EntityError::invalid(format!("unknown meter id {:#010x}", m.meter_id)))?
            .clone();
        check_meter_config(m.config.as_ref())?;
        let cells = self.meters.entry(info.id).or_default();
        let i = index("meter", &info.name, m.index.as_ref(), cells.len())?;
        if let Some(cell) = cells.get_mut(i) {
            *cell = m.config;
        }
        Ok(())
    }

    pub(super) fn write_direct_meter(
        &mut self,
        t: p4::update::Type,
        m: &p4::DirectMeterEntry,
    ) -> Result<(), EntityError> {
        modify_only(t, "direct meter entries")?;
        let e = m
            .table_entry
            .as_ref()
            .ok_or_else(|| EntityError::invalid("direct meter entry without a table entry"))?;
        if self.table(e.table_id)?.direct_meter.is_none() {
            return Err(EntityError::invalid(format!(
                "table `{}` has no direct meter",
                self.table(e.table_id)?.name
            )));
        }
        check_meter_config(m.config.as_ref())?;
        let entry = self.find_entry_mut(e)?;
        entry.meter = m.config;
        entry.bucket = None;
        Ok(())
    }

    pub(super) fn write_pre(
        &mut self,
        t: p4::update::Type,
        p: &p4::PacketReplicationEngineEntry,
    ) -> Result<(), EntityError> {
        use p4::packet_replication_engine_entry::Type as P;
        match &p.r#type {
            Some(P::MulticastGroupEntry(g)) => {
                if g.multicast_group_id == 0 {
                    return Err(EntityError::invalid("multicast group id 0 is reserved"));
                }
                keyed_write(
                    &mut self.multicast,
                    t,
                    g.multicast_group_id,
                    g.clone(),
                    "multicast group",
                )
            }
            Some(P::CloneSessionEntry(c)) => {
                if c.session_id == 0 {
                    return Err(EntityError::invalid("clone session id 0 is reserved"));
                }
                keyed_write(
                    &mut self.clone_sessions,
                    t,
                    c.session_id,
                    c.clone(),
                    "clone session",
                )
            }
            None => Err(EntityError::invalid(
                "packet replication entry without a type",
            )),
        }
    }

    pub(super) fn write_digest(
        &mut self,
        t: p4::update::Type,
        d: &p4::DigestEntry,
    ) -> Result<(), EntityError> {
        if !self.schema.digests.contains_key(&d.digest_id) {
            return Err(EntityError::invalid(format!(
                "unknown digest id {:#010x}",
                d.digest_id
            )));
        }
        let config = d.config.unwrap_or_default();
        if t != p4::update::Type::Delete && d.config.is_none() {
            return Err(EntityError::invalid("digest entry without a config"));
        }
        keyed_write(&mut self.digests, t, d.digest_id, config, "digest config")
    }
}

fn index(
    entity: &str,
    name: &str,
    index: Option<&p4::Index>,
    size: usize,
) -> Result<usize, EntityError> {
    let Some(i) = index else {
        return Err(EntityError::invalid(format!(
            "{entity} `{name}`: index missing"
        )));
    };
    usize::try_from(i.index)
        .ok()
        .filter(|i| *i < size)
        .ok_or_else(|| {
            EntityError::new(
                Code::OutOfRange,
                format!("{entity} `{name}`: index {} outside 0..{size}", i.index),
            )
        })
}

fn modify_only(t: p4::update::Type, what: &str) -> Result<(), EntityError> {
    if t == p4::update::Type::Modify {
        Ok(())
    } else {
        Err(EntityError::invalid(format!(
            "{what} can only be modified, not {}",
            t.as_str_name()
        )))
    }
}

/// Refuses a meter config BMv2's P4Runtime server (PI) would refuse, so the emulated switch
/// fails where the real one does.
pub(super) fn check_meter_config(c: Option<&p4::MeterConfig>) -> Result<(), EntityError> {
    if let Some(c) = c {
        if c.cir < 0 || c.cburst < 0 || c.pir < 0 || c.pburst < 0 {
            return Err(EntityError::invalid(format!(
                "meter config {c:?}: rates and bursts must be >= 0"
            )));
        }
        // PI keeps bursts in 32 bits and answers UNIMPLEMENTED to a larger one.
        let max_burst = i64::from(u32::MAX);
        if c.cburst > max_burst || c.pburst > max_burst {
            return Err(EntityError::unimplemented(format!(
                "meter config {c:?}: bursts above {max_burst} bytes"
            )));
        }
        if c.pir < c.cir {
            return Err(EntityError::invalid(format!(
                "meter config: pir {} below cir {}",
                c.pir, c.cir
            )));
        }
    }
    Ok(())
}

fn keyed_write<V>(
    map: &mut BTreeMap<u32, V>,
    t: p4::update::Type,
    id: u32,
    value: V,
    what: &str,
) -> Result<(), EntityError> {
    use p4::update::Type as U;
    let exists = map.contains_key(&id);
    match t {
        U::Insert if exists => Err(EntityError::exists(format!("{what} {id} exists"))),
        U::Modify | U::Delete if !exists => Err(EntityError::not_found(format!(
            "{what} {id} does not exist"
        ))),
        U::Delete => {
            map.remove(&id);
            Ok(())
        }
        _ => {
            map.insert(id, value);
            Ok(())
        }
    }
}
