//! Group table (OpenFlow 1.3.5 §5.6, §6.5) and meter table (§5.7, §6.6) of an emulated switch.
//!
//! Invariants: group ids are at most `OFPG_MAX`, meter ids in `1..=OFPM_MAX`; an indirect group has
//! exactly one bucket; bucket actions passed [`validate_actions`]; meters keep a token bucket per
//! drop band, refilled from `now` (sans-IO), so a packet above the band's rate is dropped.

use std::collections::BTreeMap;
use std::time::Duration;

use prescient_southbound::openflow::wire::error::{GroupModFailedCode, MeterModFailedCode};
use prescient_southbound::openflow::wire::{
    Bucket, ErrorKind, GroupCommand, GroupId, GroupMod, GroupType, MeterBand, MeterCommand,
    MeterFlags, MeterId, MeterMod, PortNo,
};

use super::flow_table::validate_actions;

/// Groups a switch accepts before `OUT_OF_GROUPS`.
pub const MAX_GROUPS: usize = 65_536;
/// Meters a switch accepts before `OUT_OF_METERS`.
pub const MAX_METERS: usize = 65_536;

/// One configured group with its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// Type.
    pub group_type: GroupType,
    /// Buckets.
    pub buckets: Vec<Bucket>,
    /// Packets processed.
    pub packet_count: u64,
    /// Bytes processed.
    pub byte_count: u64,
}

/// The group table.
#[derive(Debug, Clone, Default)]
pub struct GroupTable {
    groups: BTreeMap<u32, GroupEntry>,
}

impl GroupTable {
    /// True when `id` is configured.
    pub fn contains(&self, id: GroupId) -> bool {
        self.groups.contains_key(&id.0)
    }

    /// A group.
    pub fn get(&self, id: GroupId) -> Option<&GroupEntry> {
        self.groups.get(&id.0)
    }

    /// Every group, by id.
    pub fn iter(&self) -> impl Iterator<Item = (GroupId, &GroupEntry)> {
        self.groups.iter().map(|(id, g)| (GroupId(*id), g))
    }

    /// Counts a packet through a group.
    pub fn count(&mut self, id: GroupId, bytes: usize) {
        if let Some(g) = self.groups.get_mut(&id.0) {
            g.packet_count += 1;
            g.byte_count += bytes as u64;
        }
    }

    /// Applies a GROUP_MOD; returns the ids deleted (whose flows must go too).
    pub fn apply(&mut self, gm: &GroupMod) -> Result<Vec<GroupId>, ErrorKind> {
        let fail = |c| Err(ErrorKind::GroupModFailed(c));
        if gm.command == GroupCommand::Delete {
            if gm.group_id == GroupId::ALL {
                let ids = self.groups.keys().map(|k| GroupId(*k)).collect();
                self.groups.clear();
                return Ok(ids);
            }
            return Ok(self
                .groups
                .remove(&gm.group_id.0)
                .map(|_| gm.group_id)
                .into_iter()
                .collect());
        }
        if gm.group_id.0 > GroupId::MAX.0 {
            return fail(GroupModFailedCode::InvalidGroup);
        }
        match gm.group_type {
            GroupType::Unknown(_) => return fail(GroupModFailedCode::BadType),
            GroupType::Indirect if gm.buckets.len() != 1 => {
                return fail(GroupModFailedCode::BadBucket)
            }
            GroupType::FastFailover
                if gm
                    .buckets
                    .iter()
                    .any(|b| b.watch_port == PortNo::ANY && b.watch_group == GroupId::ANY) =>
            {
                return fail(GroupModFailedCode::BadWatch)
            }
            _ => {}
        }
        for b in &gm.buckets {
            // Chaining is allowed only to groups that exist and never to itself.
            validate_actions(&b.actions, &|g: GroupId| {
                g != gm.group_id && self.contains(g)
            })
            .map_err(|_| ErrorKind::GroupModFailed(GroupModFailedCode::BadBucket))?;
        }
        let entry = GroupEntry {
            group_type: gm.group_type,
            buckets: gm.buckets.clone(),
            packet_count: 0,
            byte_count: 0,
        };
        match gm.command {
            GroupCommand::Add => {
                if self.contains(gm.group_id) {
                    return fail(GroupModFailedCode::GroupExists);
                }
                if self.groups.len() >= MAX_GROUPS {
                    return fail(GroupModFailedCode::OutOfGroups);
                }
                self.groups.insert(gm.group_id.0, entry);
            }
            GroupCommand::Modify => match self.groups.get_mut(&gm.group_id.0) {
                Some(g) => *g = entry,
                None => return fail(GroupModFailedCode::UnknownGroup),
            },
            _ => return fail(GroupModFailedCode::BadCommand),
        }
        Ok(Vec::new())
    }

    /// The bucket a packet takes through `id` for one-bucket group types: the weighted choice by
    /// `hash` for select, the first live bucket for fast-failover, the bucket for indirect.
    /// `All` groups use every bucket and return `None` here.
    pub fn choose(
        &self,
        id: GroupId,
        hash: u64,
        port_up: impl Fn(PortNo) -> bool,
    ) -> Option<&Bucket> {
        let g = self.groups.get(&id.0)?;
        match g.group_type {
            GroupType::Indirect => g.buckets.first(),
            GroupType::FastFailover => g
                .buckets
                .iter()
                .find(|b| b.watch_port == PortNo::ANY || port_up(b.watch_port)),
            GroupType::Select => {
                let total: u64 = g.buckets.iter().map(|b| u64::from(b.weight)).sum();
                if total == 0 {
                    return None;
                }
                let mut pick = hash % total;
                g.buckets.iter().find(|b| {
                    let w = u64::from(b.weight);
                    if pick < w {
                        true
                    } else {
                        pick -= w;
                        false
                    }
                })
            }
            _ => None,
        }
    }
}

/// One configured meter with its counters and band state.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterEntry {
    /// Flags (KBPS / PKTPS / BURST / STATS).
    pub flags: MeterFlags,
    /// Bands.
    pub bands: Vec<MeterBand>,
    /// Flows using it (for METER stats).
    pub flow_count: u32,
    /// Packets in.
    pub packet_in_count: u64,
    /// Bytes in.
    pub byte_in_count: u64,
    /// Per band: packets and bytes that hit it.
    pub band_counts: Vec<(u64, u64)>,
    /// When it was added.
    pub installed: Duration,
    /// Per band: tokens (bits or packets) and last refill.
    tokens: Vec<(f64, Duration)>,
}

/// The meter table.
#[derive(Debug, Clone, Default)]
pub struct MeterTable {
    meters: BTreeMap<u32, MeterEntry>,
}

impl MeterTable {
    /// True when `id` is configured.
    pub fn contains(&self, id: u32) -> bool {
        self.meters.contains_key(&id)
    }

    /// Every meter, by id.
    pub fn iter(&self) -> impl Iterator<Item = (MeterId, &MeterEntry)> {
        self.meters.iter().map(|(id, m)| (MeterId(*id), m))
    }

    /// Applies a METER_MOD at `now`.
    pub fn apply(&mut self, mm: &MeterMod, now: Duration) -> Result<(), ErrorKind> {
        let fail = |c| Err(ErrorKind::MeterModFailed(c));
        let id = mm.meter_id.0;
        if mm.command == MeterCommand::Delete {
            if mm.meter_id == MeterId::ALL {
                self.meters.clear();
            } else {
                self.meters.remove(&id);
            }
            return Ok(());
        }
        if id == 0 || id > MeterId::MAX.0 {
            return fail(MeterModFailedCode::InvalidMeter);
        }
        if mm.flags.contains(MeterFlags::KBPS) && mm.flags.contains(MeterFlags::PKTPS) {
            return fail(MeterModFailedCode::BadFlags);
        }
        for b in &mm.bands {
            match b {
                MeterBand::Drop { rate: 0, .. } | MeterBand::DscpRemark { rate: 0, .. } => {
                    return fail(MeterModFailedCode::BadRate)
                }
                MeterBand::Unknown { .. } => return fail(MeterModFailedCode::BadBand),
                _ => {}
            }
        }
        let mut entry = MeterEntry {
            flags: mm.flags,
            bands: mm.bands.clone(),
            flow_count: 0,
            packet_in_count: 0,
            byte_in_count: 0,
            band_counts: vec![(0, 0); mm.bands.len()],
            installed: now,
            tokens: Vec::new(),
        };
        entry.tokens = mm.bands.iter().map(|b| (entry.burst(b), now)).collect();
        match mm.command {
            MeterCommand::Add => {
                if self.contains(id) {
                    return fail(MeterModFailedCode::MeterExists);
                }
                if self.meters.len() >= MAX_METERS {
                    return fail(MeterModFailedCode::OutOfMeters);
                }
                self.meters.insert(id, entry);
            }
            MeterCommand::Modify => match self.meters.get_mut(&id) {
                Some(m) => *m = entry,
                None => return fail(MeterModFailedCode::UnknownMeter),
            },
            _ => return fail(MeterModFailedCode::BadCommand),
        }
        Ok(())
    }

    /// Passes a packet of `bytes` through meter `id` at `now`: false when a drop band drops it.
    pub fn admit(&mut self, id: u32, bytes: usize, now: Duration) -> bool {
        let Some(m) = self.meters.get_mut(&id) else {
            return true;
        };
        m.packet_in_count += 1;
        m.byte_in_count += bytes as u64;
        let pktps = m.flags.contains(MeterFlags::PKTPS);
        let cost = if pktps { 1.0 } else { bytes as f64 * 8.0 };
        let mut admitted = true;
        for i in 0..m.bands.len() {
            let (Some(band), Some(tok)) = (m.bands.get(i).cloned(), m.tokens.get(i).copied())
            else {
                continue;
            };
            let (rate, is_drop) = match band {
                MeterBand::Drop { rate, .. } => (rate, true),
                MeterBand::DscpRemark { rate, .. } => (rate, false),
                MeterBand::Unknown { .. } => continue,
            };
            let per_sec = if pktps {
                f64::from(rate)
            } else {
                f64::from(rate) * 1000.0
            };
            let cap = m.burst(&band);
            let elapsed = now.saturating_sub(tok.1).as_secs_f64();
            let mut tokens = (tok.0 + elapsed * per_sec).min(cap);
            if tokens >= cost {
                tokens -= cost;
            } else {
                if let Some(c) = m.band_counts.get_mut(i) {
                    c.0 += 1;
                    c.1 += bytes as u64;
                }
                if is_drop {
                    admitted = false;
                }
            }
            if let Some(t) = m.tokens.get_mut(i) {
                *t = (tokens, now);
            }
        }
        admitted
    }

    /// Adjusts the flow count of a meter (a flow using it was added or removed).
    pub fn add_flows(&mut self, id: u32, delta: i32) {
        if let Some(m) = self.meters.get_mut(&id) {
            m.flow_count = m.flow_count.saturating_add_signed(delta);
        }
    }
}

impl MeterEntry {
    /// Bucket capacity of a band: its burst size when `BURST` is set, else one second of rate.
    fn burst(&self, band: &MeterBand) -> f64 {
        let (rate, burst) = match band {
            MeterBand::Drop { rate, burst_size }
            | MeterBand::DscpRemark {
                rate, burst_size, ..
            } => (*rate, *burst_size),
            MeterBand::Unknown { .. } => return 0.0,
        };
        let pktps = self.flags.contains(MeterFlags::PKTPS);
        let unit = if pktps { 1.0 } else { 1000.0 };
        if self.flags.contains(MeterFlags::BURST) && burst > 0 {
            f64::from(burst) * unit
        } else {
            f64::from(rate) * unit
        }
    }
}

#[cfg(test)]
mod tests {
    use prescient_southbound::openflow::wire::Action;

    use super::*;

    fn gm(command: GroupCommand, group_type: GroupType, id: u32, buckets: Vec<Bucket>) -> GroupMod {
        GroupMod {
            command,
            group_type,
            group_id: GroupId(id),
            buckets,
        }
    }

    fn to(port: u32) -> Vec<Action> {
        vec![Action::output(PortNo(port))]
    }

    #[test]
    fn group_add_modify_delete_and_errors() {
        let mut g = GroupTable::default();
        let b = vec![Bucket::weighted(1, to(1)), Bucket::weighted(3, to(2))];
        g.apply(&gm(GroupCommand::Add, GroupType::Select, 1, b.clone()))
            .unwrap();
        assert_eq!(
            g.apply(&gm(GroupCommand::Add, GroupType::Select, 1, b.clone())),
            Err(ErrorKind::GroupModFailed(GroupModFailedCode::GroupExists))
        );
        assert_eq!(
            g.apply(&gm(GroupCommand::Modify, GroupType::All, 2, b.clone())),
            Err(ErrorKind::GroupModFailed(GroupModFailedCode::UnknownGroup))
        );
        assert_eq!(
            g.apply(&gm(GroupCommand::Add, GroupType::Indirect, 3, b.clone())),
            Err(ErrorKind::GroupModFailed(GroupModFailedCode::BadBucket))
        );
        let chain = vec![Bucket::weighted(1, vec![Action::Group(GroupId(9))])];
        assert_eq!(
            g.apply(&gm(GroupCommand::Add, GroupType::All, 4, chain)),
            Err(ErrorKind::GroupModFailed(GroupModFailedCode::BadBucket))
        );
        assert_eq!(
            g.apply(&gm(GroupCommand::Delete, GroupType::All, 1, vec![])),
            Ok(vec![GroupId(1)])
        );
        assert!(!g.contains(GroupId(1)));
    }

    #[test]
    fn select_spreads_by_weight_and_fast_failover_skips_dead_ports() {
        let mut g = GroupTable::default();
        g.apply(&gm(
            GroupCommand::Add,
            GroupType::Select,
            1,
            vec![Bucket::weighted(1, to(1)), Bucket::weighted(3, to(2))],
        ))
        .unwrap();
        let to2 = (0..1000u64)
            .filter(|h| {
                g.choose(GroupId(1), *h, |_| true)
                    .map(|b| b.actions == to(2))
                    == Some(true)
            })
            .count();
        assert_eq!(to2, 750);
        let watch = |p: u32| Bucket {
            weight: 0,
            watch_port: PortNo(p),
            watch_group: GroupId::ANY,
            actions: to(p),
        };
        g.apply(&gm(
            GroupCommand::Add,
            GroupType::FastFailover,
            2,
            vec![watch(1), watch(2)],
        ))
        .unwrap();
        assert_eq!(
            g.choose(GroupId(2), 0, |_| true).map(|b| b.actions.clone()),
            Some(to(1))
        );
        assert_eq!(
            g.choose(GroupId(2), 0, |p| p != PortNo(1))
                .map(|b| b.actions.clone()),
            Some(to(2))
        );
        assert!(g.choose(GroupId(2), 0, |_| false).is_none());
    }

    #[test]
    fn drop_band_limits_the_rate() {
        let mut m = MeterTable::default();
        let mm = MeterMod {
            command: MeterCommand::Add,
            flags: MeterFlags::PKTPS,
            meter_id: MeterId(1),
            bands: vec![MeterBand::Drop {
                rate: 100,
                burst_size: 0,
            }],
        };
        m.apply(&mm, Duration::ZERO).unwrap();
        assert_eq!(
            m.apply(&mm, Duration::ZERO),
            Err(ErrorKind::MeterModFailed(MeterModFailedCode::MeterExists))
        );
        // 1,000 packets within one second at 100 packets/s (bucket of 100): ~100 admitted.
        let admitted = (0..1000)
            .filter(|i| m.admit(1, 100, Duration::from_millis(*i)))
            .count();
        assert!((190..=201).contains(&admitted), "admitted {admitted}");
        let (_, e) = m.iter().next().unwrap();
        assert_eq!(e.packet_in_count, 1000);
        assert_eq!(e.band_counts[0].0, 1000 - admitted as u64);
        assert!(
            m.admit(77, 100, Duration::ZERO),
            "an unknown meter does not drop"
        );
        let bad = MeterMod {
            meter_id: MeterId(0),
            ..mm
        };
        assert_eq!(
            m.apply(&bad, Duration::ZERO),
            Err(ErrorKind::MeterModFailed(MeterModFailedCode::InvalidMeter))
        );
    }
}
