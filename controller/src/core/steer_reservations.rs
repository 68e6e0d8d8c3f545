//! A steered pair's reservations follow it onto its new path, as an ONOS intent with a
//! bandwidth constraint is recompiled onto its new path with its bandwidth: the congestion rule
//! moves the pair's traffic, so a reservation left on the old path would set aside capacity
//! where the traffic no longer goes and police it on switches it no longer crosses.
//!
//! The congestion rule sizes what a reserved pair needs as the larger of its forecast and the
//! rate its API reservations hold ([`ControllerCore::api_pair_rates`]), so the path it picks has
//! room for them in the ledger. Moving them keeps their ids, rates, tiers and windows; when they
//! still do not fit (room that a forecast bound did not see), the pair is not steered and the
//! decision says why: the traffic and its reservation stay together on the old path.
//! The reservations moved are those holding the pair's traffic (`held_pairs.rs`), a flow that
//! names one of the pair's addresses and leaves the other open among them: its entries sit
//! above the pair's, so left behind it would keep the traffic on the old path.
//! Forecast reservations follow steered paths on their own (`auto_reserve`, predicted path).

use std::collections::{BTreeMap, BTreeSet};

use prescient_topology::{LinkKey, MacAddr, Reservation};

use super::planner::Draft;
use super::records::Action;
use super::ControllerCore;

impl ControllerCore {
    /// Per host pair, the summed rate of the API reservations holding its traffic.
    pub(super) fn api_pair_rates(&self) -> BTreeMap<(MacAddr, MacAddr), u64> {
        let mut rates: BTreeMap<(MacAddr, MacAddr), u64> = BTreeMap::new();
        for (pair, r) in self.api_reservations_by_pair() {
            let rate = rates.entry(pair).or_default();
            *rate = rate.saturating_add(r.request.rate_bps);
        }
        rates
    }

    /// Moves the API reservations of each pair a draft steers onto the steered path, adding
    /// their meter moves to the draft; a pair whose reservations do not fit there is not
    /// steered (its path action is taken out and the reason says so).
    pub(super) fn steer_reservations(&mut self, drafts: &mut [Draft]) {
        for draft in drafts {
            let mut kept = Vec::new();
            let mut notes = Vec::new();
            for action in std::mem::take(&mut draft.actions) {
                let Action::InstallPath {
                    src, dst, links, ..
                } = &action
                else {
                    kept.push(action);
                    continue;
                };
                match self.move_pair_reservations((*src, *dst), links) {
                    Ok((moves, text)) => {
                        kept.push(action);
                        kept.extend(moves);
                        notes.extend(text);
                    }
                    Err(why) => notes.push(format!("{src}->{dst} not steered: {why}")),
                }
            }
            draft.actions = kept;
            if !notes.is_empty() {
                draft.reason.push_str("; ");
                draft.reason.push_str(&notes.join("; "));
            }
        }
    }

    /// Puts every API reservation of `pair` (with a path, not waiting for one) on `links`;
    /// returns the meter moves and one note per reservation, or, leaving the ledger as it
    /// was, why they do not fit.
    fn move_pair_reservations(
        &mut self,
        pair: (MacAddr, MacAddr),
        links: &[LinkKey],
    ) -> Result<(Vec<Action>, Vec<String>), String> {
        let ids: BTreeSet<_> = self
            .api_reservations_by_pair()
            .filter(|(p, r)| *p == pair && !self.restoring.contains_key(&r.id))
            .filter(|(_, r)| !r.request.path.is_empty() && r.request.path != links)
            .map(|(_, r)| r.id)
            .collect();
        let mut moved: Vec<(Reservation, Reservation)> = Vec::new();
        for id in ids {
            let Ok(old) = self.ledger.release(id) else {
                continue;
            };
            let mut new = old.clone();
            new.request.path = links.to_vec();
            if let Err(e) = self.ledger.restore(new.clone()) {
                let _ = self.ledger.restore(old.clone());
                for (was, now) in moved.into_iter().rev() {
                    let _ = self.ledger.release(now.id);
                    let _ = self.ledger.restore(was);
                }
                return Err(format!(
                    "its reservation {} of {} bit/s does not fit on that path ({e}); it stays \
                     with its reservation",
                    id.0, old.request.rate_bps
                ));
            }
            moved.push((old, new));
        }
        let mut actions = Vec::new();
        let mut notes = Vec::new();
        for (old, new) in moved {
            actions.extend(self.uninstall(new.id));
            actions.push(self.install(&new));
            notes.push(format!(
                "its reservation {} ({} bit/s) moved with it from [{}]",
                new.id.0,
                new.request.rate_bps,
                old.request
                    .path
                    .iter()
                    .map(|l| super::naming::link_id(*l))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        Ok((actions, notes))
    }
}
