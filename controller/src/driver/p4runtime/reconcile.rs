//! Reconciliation of a device task: compute the desired entries, diff them against the
//! [`Mirror`] and write the difference (see the parent module's docs for when it runs).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Mutex;

use prescient_southbound::p4runtime::pipeconf::names;
use prescient_southbound::p4runtime::P4InfoIndex;
use prescient_topology::{MacAddr, PortNo, PortRef, Timestamp};

use prescient_southbound::p4runtime::proto::p4::v1 as p4;
use prescient_southbound::p4runtime::{ClientError, P4RuntimeClient};

use super::sync::{self, Mirror};
use super::{desired, Attempt, Device, OWNED_TABLES, RECONCILE_INTERVAL, RETRY_BACKOFF};

impl Device {
    /// Brings the owned tables to the desired entries (see the module docs).
    pub(super) async fn reconcile(&mut self, client: &mut P4RuntimeClient) {
        // Stopping: nothing to encode or diff (checked again before writing, after the awaits).
        if self.stopping.is_cancelled() || !self.standing.may_write(client) {
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
        if self.standing.take_seed() && self.adopt_hosts(&index, &fabric, &fleet.adopted) > 0 {
            // The next round reads a fabric that has them.
            self.last = None;
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
        // Stopping: the switches keep what they hold (see the end of `drive`), whatever the
        // core's state in its last moments.
        if self.stopping.is_cancelled() {
            return;
        }
        if !updates.is_empty() {
            let count =
                |t: p4::update::Type| updates.iter().filter(|u| u.r#type == t as i32).count();
            tracing::debug!(device = %self.id, inserts = count(p4::update::Type::Insert),
                modifies = count(p4::update::Type::Modify), deletes = count(p4::update::Type::Delete),
                "writing the difference to the desired entries");
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

    /// Takes the hosts this device's routes name at its edge ports (no known link leaves
    /// them) as seen there, unless the core knows them from a sighting (see [`Adoptions`]);
    /// returns how many.
    pub(super) fn adopt_hosts(
        &mut self,
        index: &P4InfoIndex,
        fabric: &desired::Fabric,
        adoptions: &Adoptions,
    ) -> usize {
        let links: BTreeSet<u32> = fabric
            .snapshot
            .links()
            .iter()
            .filter(|l| l.src.device == self.id)
            .map(|l| l.src.port.0)
            .collect();
        let hosts = routed_hosts(index, self.mirror.entries(), |port| {
            self.target.ports.contains(&port) && !links.contains(&port)
        });
        let now = self.core.now();
        let timeout = self
            .core
            .read(|c| c.config().topology.discovery.host_timeout);
        adoptions.prune(now, timeout, |mac| {
            fabric.hosts.get(&mac).map(|h| h.last_seen)
        });
        let mut adopted = 0;
        for (mac, ip, port) in hosts {
            let at = PortRef {
                device: self.id,
                port: PortNo(port),
            };
            let known = fabric.hosts.get(&mac).map(|h| (h.at, h.last_seen));
            if !adoptions.may_adopt(mac, at, known) {
                continue;
            }
            let seen = self
                .core
                .decide_with(|c| match c.host_seen(now, mac, Some(ip), at) {
                    Ok(actions) => (actions, Ok(())),
                    Err(e) => (Vec::new(), Err(e)),
                });
            match seen {
                Ok(()) => {
                    adoptions.record(mac, at, now);
                    adopted += 1;
                }
                Err(e) => tracing::debug!(device = %self.id, %mac, "routed host not adopted: {e}"),
            }
        }
        if adopted > 0 {
            tracing::info!(device = %self.id, adopted, "taken over: hosts the routes name adopted");
        }
        adopted
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

/// Where each host taken from routes read back was put, and the time it was given (its
/// `last_seen` there until a frame of it is seen), shared by every device task. Until the
/// links are discovered a device's route towards a host elsewhere leaves by a port that looks
/// like an edge port, so the first device to adopt a host may put it on a link's port; when
/// that link is found the host had no earlier place and was forgotten (a quiet host stays
/// unrouted). So a device also adopts a host the core knows only from another device's
/// adoption: the host moves, the topology keeps the place it left, and whichever of the two
/// ports a link is found at sends the host back to the other (as for relayed frames, 291d438).
/// A host seen since (a frame, a digest) is not moved by a route.
#[derive(Debug, Default)]
pub struct Adoptions(Mutex<BTreeMap<MacAddr, (PortRef, Timestamp)>>);

impl Adoptions {
    /// Whether a host the routes name at `at` is taken as seen there, given where and when
    /// the core last saw it (`known`).
    pub fn may_adopt(
        &self,
        mac: MacAddr,
        at: PortRef,
        known: Option<(PortRef, Timestamp)>,
    ) -> bool {
        match known {
            None => true,
            Some((place, _)) if place == at => false,
            Some(known) => self.lock().get(&mac) == Some(&known),
        }
    }

    /// Notes that `mac` was adopted at `at` at `now`.
    pub fn record(&self, mac: MacAddr, at: PortRef, now: Timestamp) {
        self.lock().insert(mac, (at, now));
    }

    /// Forgets adoptions no longer consulted: of a host the core saw since (`last_seen` after
    /// the adoption: [`Self::may_adopt`] never matches it again) and of a host adopted longer
    /// ago than the host timeout (the topology forgot it unless it was seen since). Entries
    /// of hosts the core does not know yet are kept within the timeout: another device may
    /// have just adopted one this device's view has not caught up with.
    pub fn prune(
        &self,
        now: Timestamp,
        host_timeout: Option<std::time::Duration>,
        last_seen: impl Fn(MacAddr) -> Option<Timestamp>,
    ) {
        self.lock().retain(|mac, (_, adopted)| {
            let expired = host_timeout.is_some_and(|t| now.since(*adopted) > t);
            let seen_since = last_seen(*mac).is_some_and(|seen| seen > *adopted);
            !expired && !seen_since
        });
    }

    /// How many adoptions are remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no adoption is remembered.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<MacAddr, (PortRef, Timestamp)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The hosts `(mac, ip, egress port)` of the /32 `forward` routes among `entries` whose port
/// `at_edge` accepts.
pub(super) fn routed_hosts<'a>(
    index: &P4InfoIndex,
    entries: impl Iterator<Item = &'a p4::TableEntry>,
    at_edge: impl Fn(u32) -> bool,
) -> Vec<(MacAddr, Ipv4Addr, u32)> {
    let (Ok(table), Ok(forward)) = (index.table(names::IPV4_LPM), index.action(names::FORWARD))
    else {
        return Vec::new();
    };
    let param = |name: &str| forward.params.iter().find(|p| p.name == name).map(|p| p.id);
    let (Some(port_id), Some(mac_id)) = (param("port"), param("dst_mac")) else {
        return Vec::new();
    };
    let number = |bytes: &[u8]| bytes.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
    let mut out = Vec::new();
    for e in entries.filter(|e| e.table_id == table.id) {
        let Some(p4::field_match::FieldMatchType::Lpm(lpm)) =
            e.r#match.first().and_then(|m| m.field_match_type.as_ref())
        else {
            continue;
        };
        let Some(p4::table_action::Type::Action(a)) =
            e.action.as_ref().and_then(|a| a.r#type.as_ref())
        else {
            continue;
        };
        if lpm.prefix_len != 32 || a.action_id != forward.id {
            continue;
        }
        let value = |id: u32| {
            a.params
                .iter()
                .find(|p| p.param_id == id)
                .map(|p| number(&p.value))
        };
        let (Some(port), Some(mac)) = (value(port_id), value(mac_id)) else {
            continue;
        };
        let Ok(port) = u32::try_from(port) else {
            continue;
        };
        if !at_edge(port) {
            continue;
        }
        let ip = Ipv4Addr::from(u32::try_from(number(&lpm.value)).unwrap_or(0));
        let m = mac.to_be_bytes();
        out.push((MacAddr([m[2], m[3], m[4], m[5], m[6], m[7]]), ip, port));
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{CoreConfig, SharedCore};
    use prescient_southbound::p4runtime::pipeconf::Intent;

    use super::super::fleet::{mailbox, P4Fleet};
    use super::super::packets::tests::{at, device};

    fn route(dst: [u8; 4], prefix_len: u8, port: u16, dst_mac: [u8; 6]) -> Intent {
        Intent::ForwardToPort {
            dst: Ipv4Addr::from(dst),
            prefix_len,
            port,
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac,
        }
    }

    #[test]
    fn hosts_are_read_from_host_routes_out_of_edge_ports_only() {
        let info = super::super::prescient_p4info().expect("the embedded P4Info");
        let index = P4InfoIndex::new(info).expect("an index");
        let host = [2, 0, 0, 0, 0, 7];
        let entries: Vec<p4::TableEntry> = [
            route([10, 0, 0, 7], 32, 3, host),
            // Out of a port a link leaves: a route towards a host elsewhere.
            route([10, 0, 0, 8], 32, 1, [2, 0, 0, 0, 0, 8]),
            // A prefix, not a host.
            route([10, 1, 0, 0], 24, 3, [2, 0, 0, 0, 0, 9]),
        ]
        .iter()
        .map(|i| index.encode_table_entry(&i.table_entry()).expect("encodes"))
        .collect();
        let hosts = routed_hosts(&index, entries.iter(), |port| port != 1);
        assert_eq!(hosts, vec![(MacAddr(host), Ipv4Addr::new(10, 0, 0, 7), 3)]);
    }

    /// Devices 1 and 2 of one fleet, both up, each holding the one route read back from it.
    fn switches_1_and_2(
        core: &std::sync::Arc<SharedCore>,
        routes: [p4::TableEntry; 2],
    ) -> (P4Fleet, super::super::Device, super::super::Device) {
        let (in1, box1) = mailbox();
        let (in2, box2) = mailbox();
        let fleet = P4Fleet::new(BTreeMap::from([(1, in1), (2, in2)]));
        let (mut s1, mut s2) = (device(core, 1, box1), device(core, 2, box2));
        s1.report_up();
        s2.report_up();
        let [r1, r2] = routes;
        s1.mirror.reset(vec![r1]);
        s2.mirror.reset(vec![r2]);
        (fleet, s1, s2)
    }

    #[test]
    fn a_host_adopted_on_a_link_port_not_yet_found_goes_back_to_its_edge_port() {
        // Switches 1 and 2 cabled 1:1 <-> 2:1; h1 on 1:3. A new leader reads back the old
        // leader's routes: switch 1 sends 10.0.0.1 out of 1:3, switch 2 out of 2:1 (towards
        // switch 1), and knows no link yet, so both ports look like edge ports.
        let info = super::super::prescient_p4info().expect("the embedded P4Info");
        let index = P4InfoIndex::new(info).expect("an index");
        let h1 = [2, 0, 0, 0, 0, 1];
        let entry = |port| {
            index
                .encode_table_entry(&route([10, 0, 0, 1], 32, port, h1).table_entry())
                .expect("encodes")
        };
        let host = |core: &SharedCore| core.read(|c| c.topology().host(MacAddr(h1)).map(|h| h.at));
        for switch_2_first in [true, false] {
            let core = SharedCore::new(CoreConfig::default());
            let (_fleet, mut s1, mut s2) = switches_1_and_2(&core, [entry(3), entry(1)]);
            let adoptions = Adoptions::default();
            let order: [&mut crate::driver::p4runtime::Device; 2] = if switch_2_first {
                [&mut s2, &mut s1]
            } else {
                [&mut s1, &mut s2]
            };
            for s in order {
                let fabric = desired::Fabric::read(&core);
                s.adopt_hosts(&index, &fabric, &adoptions);
            }
            let now = core.now();
            for (to, from) in [(at(2, 1), at(1, 1)), (at(1, 1), at(2, 1))] {
                let actions = core
                    .apply(|c| c.lldp_received(now, to, from))
                    .expect("a link");
                core.dispatch(actions);
            }
            assert_eq!(
                host(&core),
                Some(at(1, 3)),
                "switch 2 adopting first: {switch_2_first}"
            );
        }

        // A host seen since (here a frame at 1:3) is not moved by another device's route.
        let core = SharedCore::new(CoreConfig::default());
        let (_fleet, mut s1, mut s2) = switches_1_and_2(&core, [entry(3), entry(1)]);
        let adoptions = Adoptions::default();
        assert_eq!(
            s1.adopt_hosts(&index, &desired::Fabric::read(&core), &adoptions),
            1
        );
        let later = core.now().plus(std::time::Duration::from_secs(1));
        let ip = Some(Ipv4Addr::new(10, 0, 0, 1));
        core.apply(|c| c.host_seen(later, MacAddr(h1), ip, at(1, 3)))
            .expect("seen");
        assert_eq!(
            s2.adopt_hosts(&index, &desired::Fabric::read(&core), &adoptions),
            0
        );
        assert_eq!(host(&core), Some(at(1, 3)));
    }

    #[test]
    fn adoptions_are_forgotten_once_the_host_is_seen_or_its_timeout_passes() {
        let adoptions = Adoptions::default();
        let t0 = Timestamp::from_secs(10);
        let mac = |n| MacAddr([2, 0, 0, 0, 0, n]);
        for (n, port) in [(1, 3), (2, 4), (3, 5)] {
            adoptions.record(mac(n), at(1, port), t0);
        }
        let timeout = Some(std::time::Duration::from_secs(300));
        // h1 was seen since its adoption; h2 is known only from it; h3 is not in this
        // device's view yet (another device just adopted it): h2 and h3 are still consulted.
        let t1 = t0.plus(std::time::Duration::from_secs(1));
        adoptions.prune(t1, timeout, |m| match m.0[5] {
            1 => Some(t1),
            2 => Some(t0),
            _ => None,
        });
        assert_eq!(adoptions.len(), 2);
        assert!(adoptions.may_adopt(mac(2), at(2, 1), Some((at(1, 4), t0))));
        // Without a host timeout hosts are never forgotten, nor their adoptions.
        adoptions.prune(Timestamp::from_secs(1_000_000), None, |_| Some(t0));
        assert_eq!(adoptions.len(), 2);
        // Past the host timeout the topology forgot them: nothing is left.
        let t2 = t0.plus(std::time::Duration::from_secs(301));
        adoptions.prune(t2, timeout, |_| None);
        assert!(adoptions.is_empty());
    }
}
