//! Reconciliation of a device task: compute the desired entries, diff them against the
//! [`Mirror`] and write the difference (see the parent module's docs for when it runs).

use std::collections::{BTreeMap, BTreeSet};

use prescient_southbound::p4runtime::proto::p4::v1 as p4;
use prescient_southbound::p4runtime::{ClientError, P4RuntimeClient};

use super::sync::{self, Mirror};
use super::{desired, Attempt, Device, OWNED_TABLES, RECONCILE_INTERVAL, RETRY_BACKOFF};

impl Device {
    /// Brings the owned tables to the desired entries (see the module docs).
    pub(super) async fn reconcile(&mut self, client: &mut P4RuntimeClient) {
        if !self.standing.may_write(client) {
            return;
        }
        let Ok(index) = client.index().cloned() else {
            return;
        };
        if self.resync {
            match read_owned(client).await {
                Ok(entries) => {
                    self.mirror.reset(entries);
                    self.resync = false;
                    self.last = None;
                    self.enable_digests(client).await;
                }
                Err(e) => {
                    self.failed(format!("owned tables not read back: {e}"));
                    return;
                }
            }
        }
        let fleet = self.fleet.borrow().clone();
        let now = tokio::time::Instant::now();
        // Younger than one interval: every task's tick shares one read of the core.
        let (generation, fabric) = fleet.fabric.get(&self.core, now, RECONCILE_INTERVAL / 2);
        if self.last.as_ref().is_some_and(|a| {
            a.version == fleet.version
                && a.generation == generation
                && (a.converged || now < a.retry_at)
        }) {
            return;
        }
        let mut wanted = desired::device_entries(self.id, &fabric, &fleet.plan);
        desired::with_reserved_priority(&mut wanted, self.target.reserved_priority());
        self.explain(wanted.notes);
        let mut entries = BTreeMap::new();
        for intent in wanted.entries.values() {
            match index.encode_table_entry(&intent.table_entry()) {
                Ok(e) => {
                    entries.insert(sync::entry_key(&e), e);
                }
                Err(e) => self.failed(format!("{intent:?} does not fit the pipeline: {e}")),
            }
        }
        let mut updates = self.mirror.diff(&entries);
        let settled = self.standing.settled();
        if !settled {
            // Just taken over: what this node does not want yet may be what it has not
            // learnt yet (see `standing`).
            updates.retain(|u| u.r#type != p4::update::Type::Delete as i32);
        }
        if !updates.is_empty() {
            if let Err(e) = write(client, &mut self.mirror, updates).await {
                self.failed(format!("entries not written: {e}"));
            }
        }
        let converged = settled && self.mirror.diff(&entries).is_empty();
        if converged {
            self.last_error = None;
        }
        let retry_at = match self.standing.settle_until() {
            Some(t) => t.min(now + RETRY_BACKOFF),
            None => now + RETRY_BACKOFF,
        };
        self.last = Some(Attempt {
            generation,
            version: fleet.version,
            converged,
            retry_at,
        });
    }

    /// Logs what cannot be realised, once per new reason.
    pub(super) fn explain(&mut self, notes: BTreeSet<String>) {
        for n in notes.difference(&self.notes) {
            tracing::info!(device = %self.id, "{n}");
        }
        self.notes = notes;
    }

    /// Logs a reconciliation failure unless it is the one logged last (it is retried often).
    pub(super) fn failed(&mut self, why: String) {
        if self.last_error.as_deref() != Some(why.as_str()) {
            tracing::warn!(device = %self.id, "{why}");
            self.last_error = Some(why);
        }
    }
}

/// Every entry of the owned tables, as the device holds them.
async fn read_owned(client: &mut P4RuntimeClient) -> Result<Vec<p4::TableEntry>, ClientError> {
    let mut all = Vec::new();
    for table in OWNED_TABLES {
        all.extend(client.read_table(table, false).await?);
    }
    Ok(all)
}

/// Writes `updates` in one batch, then the retries the refusals call for; the mirror follows
/// what the device applied.
async fn write(
    client: &mut P4RuntimeClient,
    mirror: &mut Mirror,
    updates: Vec<p4::Update>,
) -> Result<(), ClientError> {
    match client.write(updates.clone()).await {
        Ok(()) => {
            updates.iter().for_each(|u| mirror.record(u));
            Ok(())
        }
        Err(ClientError::Write(err)) => {
            let retry = mirror.settle(&updates, &err);
            if retry.is_empty() {
                return Err(ClientError::Write(err));
            }
            match client.write(retry.clone()).await {
                Ok(()) => {
                    retry.iter().for_each(|u| mirror.record(u));
                    Ok(())
                }
                Err(ClientError::Write(again)) => {
                    mirror.settle(&retry, &again);
                    Err(ClientError::Write(again))
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}
