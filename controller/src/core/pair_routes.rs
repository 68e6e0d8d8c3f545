//! Host pairs whose traffic reaches the controller (no entry carried it) are routed on their
//! shortest path, one entry per hop matching the pair: OpenFlow switches then carry the pair
//! and count it per pair, which is what gives the pair its forecast series (and the forecast
//! reservations and steering their input). P4 switches route every learned host already (/32
//! routes) and are left out: a path with a P4 hop is not routed here.
//!
//! One decision per route. A pair already steered by the congestion rule keeps that path; a
//! recorded route whose links left the topology is routed again on the pair's next frame.

use prescient_topology::{LinkKey, MacAddr, PortRef, Protocol, Timestamp};

use super::auto_reserve::links_text;
use super::planner::Draft;
use super::records::{Action, Rule};
use super::ControllerCore;

impl ControllerCore {
    /// A frame from host `src` to host `dst` was punted to the controller: routes the pair
    /// when both hosts are known on different switches, every hop is OpenFlow, and it has no
    /// live route yet. Returns the path actions.
    pub fn pair_seen(&mut self, now: Timestamp, src: MacAddr, dst: MacAddr) -> Vec<Action> {
        if src == dst || dst.is_multicast() {
            return Vec::new();
        }
        let snapshot = self.topology.snapshot();
        let live = |links: &[prescient_topology::LinkKey]| {
            links.iter().all(|l| snapshot.link_idx(*l).is_some())
        };
        if self.auto.steered.contains_key(&(src, dst)) {
            return Vec::new();
        }
        if self.auto.routed.get(&(src, dst)).is_some_and(|p| live(p)) {
            return Vec::new();
        }
        self.route_pair(now, src, dst, "reached the controller")
    }

    /// After a topology change: every routed pair whose path lost a link is routed again at
    /// once on its shortest path, replacing its entries (same match and priority) on the
    /// switches of the new path. Its traffic no longer reaches the controller (the old entries
    /// send it into the dead port), so waiting for its next frame would black-hole it.
    pub(super) fn reroute_broken_pairs(&mut self, now: Timestamp) -> Vec<Action> {
        if self.auto.routed.is_empty() {
            return Vec::new();
        }
        let snapshot = self.topology.snapshot();
        let broken: Vec<(MacAddr, MacAddr)> = self
            .auto
            .routed
            .iter()
            .filter(|(_, links)| links.iter().any(|l| snapshot.link_idx(*l).is_none()))
            .map(|(pair, _)| *pair)
            .collect();
        let mut actions = Vec::new();
        for (src, dst) in broken {
            self.auto.routed.remove(&(src, dst));
            if !self.auto.steered.contains_key(&(src, dst)) {
                actions.extend(self.route_pair(now, src, dst, "lost a link of its route"));
            }
        }
        actions
    }

    /// After hosts in `moved` moved: their routed pairs are routed again at once, towards the
    /// host's new port (their entry on the last switch delivers to the old one).
    pub(super) fn reroute_pairs_of(
        &mut self,
        now: Timestamp,
        moved: &std::collections::BTreeSet<MacAddr>,
    ) -> Vec<Action> {
        let pairs = pairs_of(self.auto.routed.keys(), moved);
        let mut actions = Vec::new();
        for (src, dst) in pairs {
            self.auto.routed.remove(&(src, dst));
            if !self.auto.steered.contains_key(&(src, dst)) {
                actions.extend(self.route_pair(now, src, dst, "moved with its host"));
            }
        }
        let steered = pairs_of(self.auto.steered.keys(), moved);
        for pair in steered {
            actions.extend(self.follow_steered(now, pair));
        }
        actions
    }

    /// A steered pair one of whose hosts moved: its path installed again with its exit at
    /// the destination's new port while the path still joins the two hosts' switches (its
    /// entry on the last switch delivers to the port the host left); otherwise the steer is
    /// dropped and the pair routed on its shortest path.
    fn follow_steered(&mut self, now: Timestamp, (src, dst): (MacAddr, MacAddr)) -> Vec<Action> {
        let snapshot = self.topology.snapshot();
        let Some(links) = self.auto.steered.get(&(src, dst)).cloned() else {
            return Vec::new();
        };
        let joins = snapshot
            .host_devices(src, dst)
            .is_ok_and(|(a, b)| super::auto_reserve::joins(&links, a, b, &snapshot));
        if !joins {
            self.auto.steered.remove(&(src, dst));
            return self.route_pair(now, src, dst, "moved off its steered path with its host");
        }
        let exit = snapshot.host(dst);
        let reason = format!(
            "traffic {src} -> {dst} moved with its host: kept on its steered path [{}], delivered at {}",
            links_text(&links),
            exit.map_or_else(|| "no port".to_string(), |p| p.to_string())
        );
        self.record_pair_path(now, (src, dst), links, exit, reason)
    }

    /// Routes the pair on its shortest path when both hosts are known on different switches and
    /// every hop is OpenFlow; `why` ends the decision's reason ("traffic a -> b {why}").
    fn route_pair(&mut self, now: Timestamp, src: MacAddr, dst: MacAddr, why: &str) -> Vec<Action> {
        let snapshot = self.topology.snapshot();
        let Ok((a, b)) = snapshot.host_devices(src, dst) else {
            return Vec::new();
        };
        let Ok(path) = snapshot.shortest_path(a, b) else {
            return Vec::new();
        };
        let links = path.links;
        if links.is_empty()
            || links
                .iter()
                .any(|l| l.src.device.protocol != Protocol::OpenFlow)
        {
            return Vec::new();
        }
        self.auto.routed.insert((src, dst), links.clone());
        let reason = format!(
            "traffic {src} -> {dst} {why}: routed on its shortest path [{}], where it is counted per pair for its forecast",
            links_text(&links)
        );
        // The path may enter the last switch over a cable the flood guard blocks: only an
        // entry of the pair there delivers it (a host that moves is routed again,
        // `reroute_pairs_of`).
        let exit = snapshot.host(dst);
        self.record_pair_path(now, (src, dst), links, exit, reason)
    }

    /// Records the decision that installs `links` for the pair, delivered at `exit`.
    fn record_pair_path(
        &mut self,
        now: Timestamp,
        (src, dst): (MacAddr, MacAddr),
        links: Vec<LinkKey>,
        exit: Option<PortRef>,
        reason: String,
    ) -> Vec<Action> {
        let decision = self.next_decision;
        self.record(
            now,
            Draft {
                rule: Rule::PairRouted,
                subject: format!("pair/{src}->{dst}"),
                reason,
                actions: vec![Action::InstallPath {
                    src,
                    dst,
                    links,
                    exit,
                    decision,
                }],
            },
        )
    }
}

/// The pairs among `pairs` one of whose hosts is in `hosts`.
fn pairs_of<'a>(
    pairs: impl Iterator<Item = &'a (MacAddr, MacAddr)>,
    hosts: &std::collections::BTreeSet<MacAddr>,
) -> Vec<(MacAddr, MacAddr)> {
    pairs
        .filter(|(s, d)| hosts.contains(s) || hosts.contains(d))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use prescient_topology::{LinkKey, Timestamp};

    use super::super::tests::{at, square, H1, H2};
    use super::super::{Action, Rule};

    #[test]
    fn a_punted_pair_is_routed_once_on_its_shortest_path() {
        let mut c = square();
        let now = Timestamp::from_secs(2);
        let acts = c.pair_seen(now, H1, H2);
        let [Action::InstallPath {
            src, dst, links, ..
        }] = acts.as_slice()
        else {
            panic!("one path, got {acts:?}");
        };
        assert_eq!((*src, *dst), (H1, H2));
        assert_eq!(
            links,
            &vec![
                LinkKey::new(at(1, 1), at(2, 1)),
                LinkKey::new(at(2, 2), at(4, 1))
            ]
        );
        assert!(c.pair_seen(now, H1, H2).is_empty(), "routed once");
        assert_eq!(
            c.decisions()
                .iter()
                .filter(|d| d.rule == Rule::PairRouted)
                .count(),
            1
        );
        // Unknown hosts are not routed.
        let stranger = prescient_topology::MacAddr([0, 0, 0, 0, 0, 9]);
        assert!(c.pair_seen(now, H1, stranger).is_empty());
    }

    #[test]
    fn a_routed_pair_whose_link_goes_is_routed_again_at_once() {
        let mut c = square();
        let now = Timestamp::from_secs(2);
        c.pair_seen(now, H1, H2);
        // Its first link goes down: the pair's frames now die in the dead port and never reach
        // the controller, so the new route must come from the topology change itself.
        let acts = c.port_removed(now, at(1, 1));
        let rerouted: Vec<_> = acts
            .iter()
            .filter_map(|a| match a {
                Action::InstallPath {
                    src, dst, links, ..
                } => Some((*src, *dst, links.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(rerouted.len(), 1, "{acts:?}");
        let (src, dst, links) = &rerouted[0];
        assert_eq!((*src, *dst), (H1, H2));
        assert!(
            links.iter().all(|l| l.src != at(1, 1)),
            "the new route avoids the dead port: {links:?}"
        );
        assert!(links.iter().any(|l| l.src.device == at(1, 1).device));
    }
}
