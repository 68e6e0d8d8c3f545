//! The read path: entities read back (byte strings normalised), and typed reads of tables,
//! counters, meters and action profiles by name.

use super::{lock, P4RuntimeClient};
use crate::p4runtime::entity::entity;
use crate::p4runtime::error::ClientError;
use crate::p4runtime::packetio::normalize_entity;
use crate::p4runtime::proto::p4::v1 as p4;

impl P4RuntimeClient {
    /// Reads entities (zero ids are wildcards), collecting every streamed response and
    /// normalising byte strings to canonical form.
    pub async fn read(
        &mut self,
        entities: Vec<p4::Entity>,
    ) -> Result<Vec<p4::Entity>, ClientError> {
        let req = p4::ReadRequest {
            device_id: self.config.device_id,
            role: lock(&self.session.arbitration).role_name().to_string(),
            entities,
        };
        let mut stream = self
            .grpc
            .read(req)
            .await
            .map_err(|s| ClientError::rpc("Read", &s))?
            .into_inner();
        let mut out = Vec::new();
        while let Some(resp) = stream
            .message()
            .await
            .map_err(|s| ClientError::rpc("Read", &s))?
        {
            out.extend(resp.entities.into_iter().map(|mut e| {
                normalize_entity(&mut e);
                e
            }));
        }
        Ok(out)
    }

    /// Every entry of `table`, with direct counter values when `with_counters`.
    pub async fn read_table(
        &mut self,
        table: &str,
        with_counters: bool,
    ) -> Result<Vec<p4::TableEntry>, ClientError> {
        let info = self.index()?.table(table)?;
        let entry = p4::TableEntry {
            table_id: info.id,
            counter_data: (with_counters && info.direct_counter.is_some())
                .then(p4::CounterData::default),
            ..Default::default()
        };
        let got = self
            .read(vec![entity(p4::entity::Entity::TableEntry(entry))])
            .await?;
        Ok(only(got, |e| match e {
            p4::entity::Entity::TableEntry(t) => Some(t),
            _ => None,
        }))
    }

    /// Cells of an indexed counter (`index: None` = all).
    pub async fn read_counter(
        &mut self,
        counter: &str,
        index: Option<i64>,
    ) -> Result<Vec<p4::CounterEntry>, ClientError> {
        let e = self.index()?.encode_counter(counter, index, None)?;
        let got = self
            .read(vec![entity(p4::entity::Entity::CounterEntry(e))])
            .await?;
        Ok(only(got, |e| match e {
            p4::entity::Entity::CounterEntry(c) => Some(c),
            _ => None,
        }))
    }

    /// Cells `indexes` of each of `counters`, in one Read; an index a counter does not have
    /// is skipped (it has no cell). A poll of a device's few ports reads just those cells: all
    /// 1,024 of prescient.p4's two port counters were about 400 KB of messages per device
    /// and poll.
    pub async fn read_counter_cells(
        &mut self,
        counters: &[&str],
        indexes: &[i64],
    ) -> Result<Vec<p4::CounterEntry>, ClientError> {
        let mut wanted = Vec::with_capacity(counters.len() * indexes.len());
        {
            let ix = self.index()?;
            for name in counters {
                let size = ix.counters.by_name(name)?.size;
                for &i in indexes.iter().filter(|&&i| (0..size).contains(&i)) {
                    let e = ix.encode_counter(name, Some(i), None)?;
                    wanted.push(entity(p4::entity::Entity::CounterEntry(e)));
                }
            }
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let got = self.read(wanted).await?;
        Ok(only(got, |e| match e {
            p4::entity::Entity::CounterEntry(c) => Some(c),
            _ => None,
        }))
    }

    /// Cells of an indexed meter (`index: None` = all).
    pub async fn read_meter(
        &mut self,
        meter: &str,
        index: Option<i64>,
    ) -> Result<Vec<p4::MeterEntry>, ClientError> {
        let e = self.index()?.encode_meter(meter, index, None)?;
        let got = self
            .read(vec![entity(p4::entity::Entity::MeterEntry(e))])
            .await?;
        Ok(only(got, |e| match e {
            p4::entity::Entity::MeterEntry(m) => Some(m),
            _ => None,
        }))
    }

    /// Direct meter configurations of every entry of `table`.
    pub async fn read_direct_meters(
        &mut self,
        table: &str,
    ) -> Result<Vec<p4::DirectMeterEntry>, ClientError> {
        let info = self.index()?.table(table)?;
        let e = p4::DirectMeterEntry {
            table_entry: Some(p4::TableEntry {
                table_id: info.id,
                ..Default::default()
            }),
            ..Default::default()
        };
        let got = self
            .read(vec![entity(p4::entity::Entity::DirectMeterEntry(e))])
            .await?;
        Ok(only(got, |e| match e {
            p4::entity::Entity::DirectMeterEntry(m) => Some(m),
            _ => None,
        }))
    }

    /// Members of an action profile.
    pub async fn read_members(
        &mut self,
        profile: &str,
    ) -> Result<Vec<p4::ActionProfileMember>, ClientError> {
        let id = self.index()?.profile(profile)?.id;
        let e = p4::ActionProfileMember {
            action_profile_id: id,
            ..Default::default()
        };
        let got = self
            .read(vec![entity(p4::entity::Entity::ActionProfileMember(e))])
            .await?;
        Ok(only(got, |e| match e {
            p4::entity::Entity::ActionProfileMember(m) => Some(m),
            _ => None,
        }))
    }

    /// Groups of an action selector.
    pub async fn read_groups(
        &mut self,
        profile: &str,
    ) -> Result<Vec<p4::ActionProfileGroup>, ClientError> {
        let id = self.index()?.profile(profile)?.id;
        let e = p4::ActionProfileGroup {
            action_profile_id: id,
            ..Default::default()
        };
        let got = self
            .read(vec![entity(p4::entity::Entity::ActionProfileGroup(e))])
            .await?;
        Ok(only(got, |e| match e {
            p4::entity::Entity::ActionProfileGroup(g) => Some(g),
            _ => None,
        }))
    }
}

/// The entities of one kind among what a Read answered (`pick` names the kind).
fn only<T>(got: Vec<p4::Entity>, pick: impl Fn(p4::entity::Entity) -> Option<T>) -> Vec<T> {
    got.into_iter()
        .filter_map(|e| e.entity.and_then(&pick))
        .collect()
}
