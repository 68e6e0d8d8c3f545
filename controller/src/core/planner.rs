//! The congestion rule: a link whose forecast upper 95 % bound exceeds `hot_threshold` of its
//! capacity is hot; the host pairs whose current path crosses it and whose own forecast fits
//! elsewhere are steered onto a path with room, the biggest first and only as many as bring the
//! link under the level at which it cools (idle pairs never). A pair's current path is the one
//! this rule steered it onto, else the route it was given when its traffic reached the
//! controller, else its shortest path. A pair steered in an earlier episode stays on its new path
//! for a hold-down (`steer_hold_down` control intervals): the move is a step in both links'
//! series whose bounds overshoot for a while, and moving it on them would trade it back and
//! forth. A hot link that kept such a pair is tried again when the pair's hold-down ends, if
//! the link is still above the threshold then. Pure: it reads forecasts and the snapshot and
//! returns decisions and actions; the core records them.
//!
//! Hysteresis: a link becomes hot above `hot_threshold` and cools only below
//! `hot_threshold - hysteresis`, so one decision per episode, not one per tick.
//!
//! A link can turn hot before any pair crossing it has a warm forecast: its series may have been
//! warm for hours while a new pair's is still in its warm-up (a pair's series starts at its
//! flow's first measured rate). Such a link stays `unsteered` and is tried again each tick while
//! it is hot and the pairs with a forecast have changed in number since its last try (a try
//! costs a shortest path per pair: every tick, a network with many hot links and no host pairs
//! spent a quarter of its controller's CPU in them); the first round that finds a pair with a
//! forecast steers and records a second decision. A round that finds pairs but no room for them
//! is final, as before.

use std::collections::{BTreeMap, BTreeSet};

use std::time::Duration;

use prescient_topology::{DeviceId, Fit, LinkKey, MacAddr, Snapshot, Timestamp};

use super::auto_reserve::joins;

use super::naming::link_id;
use super::records::{Action, Rule};
pub use crate::vocab::Draft;

/// Inputs of one planning round.
pub struct Inputs<'a> {
    /// The topology.
    pub snapshot: &'a Snapshot,
    /// Predicted peak per link, bits/s.
    pub link_peaks: &'a BTreeMap<LinkKey, f64>,
    /// Predicted peak per host pair, bits/s.
    pub pair_peaks: &'a BTreeMap<(MacAddr, MacAddr), f64>,
    /// Per host pair, the rate its API reservations hold, bits/s: a steered pair takes them
    /// along, so its new path needs room for them as well as for its forecast.
    pub pair_reserved: &'a BTreeMap<(MacAddr, MacAddr), u64>,
    /// Reserved now per link, bits/s.
    pub reserved: &'a BTreeMap<LinkKey, u64>,
    /// Hot threshold (share of capacity).
    pub threshold: f64,
    /// Hysteresis (share of capacity).
    pub hysteresis: f64,
    /// Forecast horizon in steps (for the reason text).
    pub horizon: usize,
    /// Paths this rule steered pairs onto: where their traffic goes while the path joins their
    /// switches.
    pub steered: &'a BTreeMap<(MacAddr, MacAddr), Vec<LinkKey>>,
    /// Paths of pairs routed when their traffic reached the controller (the shortest path of
    /// that moment, which a later topology may no longer make the shortest).
    pub routed: &'a BTreeMap<(MacAddr, MacAddr), Vec<LinkKey>>,
    /// When each steered pair was last steered.
    pub steered_at: &'a BTreeMap<(MacAddr, MacAddr), Timestamp>,
    /// How long a steered pair stays on its new path before it may be moved again.
    pub hold_down: Duration,
    /// This round's time.
    pub now: Timestamp,
    /// The latest measured rate of each link in [`HotState::held`], bits/s.
    pub held_actuals: &'a BTreeMap<LinkKey, f64>,
}

/// Links the planner keeps state about between rounds.
#[derive(Debug, Default)]
pub struct HotState {
    /// Links predicted hot and not yet cooled.
    pub hot: BTreeSet<LinkKey>,
    /// Hot links no host pair with a forecast crossed yet, with the number of pairs with a
    /// forecast when they were last tried.
    pub unsteered: BTreeMap<LinkKey, usize>,
    /// Hot links that kept a pair steered onto them in an earlier episode, with the end of the
    /// earliest such pair's hold-down: the link is tried again then.
    pub held: BTreeMap<LinkKey, Timestamp>,
}

/// What one try at a hot link did.
struct Steering {
    actions: Vec<Action>,
    /// A sentence for the decision.
    text: String,
    /// Whether any pair with a forecast crosses the link.
    found: bool,
    /// The end of the earliest hold-down among the pairs it kept for one.
    held_until: Option<Timestamp>,
}

/// The links a pair's traffic takes now, and whether this rule put it there: its steered path,
/// else its routed path, while they join its switches; else its shortest path.
fn current_path(
    inp: &Inputs<'_>,
    pair: (MacAddr, MacAddr),
    (a, b): (DeviceId, DeviceId),
) -> Option<(Vec<LinkKey>, bool)> {
    let snap = inp.snapshot;
    if let Some(p) = inp.steered.get(&pair).filter(|p| joins(p, a, b, snap)) {
        return Some((p.clone(), true));
    }
    if let Some(p) = inp.routed.get(&pair).filter(|p| joins(p, a, b, snap)) {
        return Some((p.clone(), false));
    }
    snap.shortest_path(a, b).ok().map(|p| (p.links, false))
}

/// Updates `state` and returns what to record. `next_decision` numbers the drafts that carry
/// actions, so an action can name its decision.
pub fn plan(inp: &Inputs<'_>, state: &mut HotState, next_decision: u64) -> Vec<Draft> {
    let mut drafts = Vec::new();
    let snap = inp.snapshot;
    let HotState {
        hot,
        unsteered,
        held,
    } = state;
    hot.retain(|l| snap.link_idx(*l).is_some());
    unsteered.retain(|l, _| hot.contains(l));
    held.retain(|l, _| hot.contains(l));
    let pairs = inp.pair_peaks.len();
    // Pairs steered this round: a pair crossing two links that turn hot together is steered
    // once (it was steered by each, two paths written in one tick).
    let mut steered: BTreeSet<(MacAddr, MacAddr)> = BTreeSet::new();
    for (key, cap) in snap.links().iter().zip(snap.capacities()) {
        let Some(&peak) = inp.link_peaks.get(key) else {
            continue;
        };
        if *cap == 0 {
            continue;
        }
        let share = peak / *cap as f64;
        let link = (*key, peak, *cap);
        // Formatted only for a decision: this loop visits every link every tick.
        let hot_now = || {
            format!(
            "forecast peak {peak:.0} bit/s (upper 95% bound where calibrated) within {} steps is {:.0}% of capacity {cap} bit/s (threshold {:.0}%)",
            inp.horizon,
            share * 100.0,
            inp.threshold * 100.0
        )
        };
        if !hot.contains(key) && share > inp.threshold {
            hot.insert(*key);
            let id = next_decision + drafts.len() as u64;
            let s = steer_pairs(inp, link, hot, &mut steered, id);
            if !s.found {
                unsteered.insert(*key, pairs);
            }
            if let Some(t) = s.held_until {
                held.insert(*key, t);
            }
            drafts.push(Draft {
                rule: Rule::LinkPredictedHot,
                subject: format!("link/{}", link_id(*key)),
                reason: format!("{}; {}", hot_now(), s.text),
                actions: s.actions,
            });
        } else if hot.contains(key) && share < inp.threshold - inp.hysteresis {
            hot.remove(key);
            unsteered.remove(key);
            held.remove(key);
            drafts.push(Draft {
                rule: Rule::LinkCooled,
                subject: format!("link/{}", link_id(*key)),
                reason: format!(
                    "forecast peak {peak:.0} bit/s is {:.0}% of capacity, below {:.0}%",
                    share * 100.0,
                    (inp.threshold - inp.hysteresis) * 100.0
                ),
                actions: Vec::new(),
            });
        } else if unsteered.get(key).is_some_and(|&tried| tried != pairs) {
            let id = next_decision + drafts.len() as u64;
            let s = steer_pairs(inp, link, hot, &mut steered, id);
            unsteered.insert(*key, pairs);
            if s.found {
                unsteered.remove(key);
                if let Some(t) = s.held_until {
                    held.insert(*key, t);
                }
                drafts.push(Draft {
                    rule: Rule::LinkPredictedHot,
                    subject: format!("link/{}", link_id(*key)),
                    reason: format!(
                        "still predicted hot: {}, and a host pair crossing it now has a forecast; {}",
                        hot_now(),
                        s.text
                    ),
                    actions: s.actions,
                });
            }
        } else if held.get(key).is_some_and(|&t| t <= inp.now) {
            // A pair kept here for its hold-down may move now, if the link is measured above
            // the threshold as well as forecast there: after a step (other traffic leaving,
            // say) a link's bound stays wide for a calibration window, and moving the pair on
            // that bound alone would be the flapping the hold-down is for. In the band between
            // the threshold and where the link cools it stays as it is.
            held.remove(key);
            let measured = inp.held_actuals.get(key).map_or(0.0, |r| r / *cap as f64);
            if share <= inp.threshold || measured <= inp.threshold {
                continue;
            }
            let id = next_decision + drafts.len() as u64;
            let s = steer_pairs(inp, link, hot, &mut steered, id);
            if let Some(t) = s.held_until {
                held.insert(*key, t);
            }
            if !s.actions.is_empty() {
                drafts.push(Draft {
                    rule: Rule::LinkPredictedHot,
                    subject: format!("link/{}", link_id(*key)),
                    reason: format!(
                        "still predicted hot: {}, measured at {:.0}%, and the hold-down of a pair steered onto it earlier is over; {}",
                        hot_now(),
                        measured * 100.0,
                        s.text
                    ),
                    actions: s.actions,
                });
            }
        }
    }
    drafts
}

/// Paths for the pairs crossing `link` (with its forecast peak and capacity), avoiding hot links
/// and links without room for their forecast; returns the actions, a sentence saying what was
/// done, and whether any pair with a forecast crosses it (steered now, earlier this round, left
/// in place, or not at all). Adds the pairs it steers to `steered` and leaves those already in
/// it.
///
/// Biggest pairs first, and only until the moves bring the link's peak under the level at which
/// it cools (`threshold - hysteresis`): each move rewrites a path's flow entries and may reorder
/// the pair's packets, so a pair whose move the link does not need stays where it is. A pair
/// forecast idle (under 1 bit/s, no reservation to take along) sheds nothing and is never moved.
fn steer_pairs(
    inp: &Inputs<'_>,
    (link, link_peak, cap): (LinkKey, f64, u64),
    hot: &BTreeSet<LinkKey>,
    steered: &mut BTreeSet<(MacAddr, MacAddr)>,
    decision: u64,
) -> Steering {
    let snap = inp.snapshot;
    // Residual = capacity - max(predicted, reserved); hot links have none. Built for the first
    // pair that needs a path: a look-up per link of the network, for nothing when no pair
    // crosses this one.
    let residual_now = || -> Vec<u64> {
        snap.links()
            .iter()
            .zip(snap.capacities())
            .map(|(k, cap)| {
                if hot.contains(k) {
                    return 0;
                }
                let predicted = inp.link_peaks.get(k).copied().unwrap_or(0.0).max(0.0) as u64;
                let reserved = inp.reserved.get(k).copied().unwrap_or(0);
                cap.saturating_sub(predicted.max(reserved))
            })
            .collect()
    };
    let cools_at = (inp.threshold - inp.hysteresis).max(0.0) * cap as f64;
    let mut left = link_peak;
    let mut crossing = Vec::new();
    let (mut before, mut idle) = (0, 0);
    let mut stays = Vec::new();
    let mut held_until: Option<Timestamp> = None;
    for (&(src, dst), &peak) in inp.pair_peaks {
        let Ok((a, b)) = snap.host_devices(src, dst) else {
            continue;
        };
        let Some((current, moved_before)) = current_path(inp, (src, dst), (a, b)) else {
            continue;
        };
        if !current.contains(&link) {
            continue;
        }
        let held = inp.pair_reserved.get(&(src, dst)).copied().unwrap_or(0);
        let need = (peak.max(0.0).ceil() as u64).max(held);
        if steered.contains(&(src, dst)) {
            // Steered away by another hot link this round: it leaves this one too.
            before += 1;
            left -= need as f64;
            continue;
        }
        if peak < 1.0 && held == 0 {
            idle += 1;
            continue;
        }
        let hold_ends = inp
            .steered_at
            .get(&(src, dst))
            .map(|t| t.plus(inp.hold_down));
        if moved_before && hold_ends.is_some_and(|t| t > inp.now) {
            // Steered here lately: it stays. A move shows in both links' forecasts as a step,
            // whose bounds overshoot for a while (a pair of 60 % of a link moved onto an idle
            // one made it 120 % hot), so moving it again would trade it back and forth on
            // transients.
            stays.push(format!("{src}->{dst} ({need} bit/s)"));
            if let Some(t) = hold_ends {
                held_until = Some(held_until.map_or(t, |h| h.min(t)));
            }
            continue;
        }
        crossing.push((need, src, dst, a, b));
    }
    // Largest first; ties in address order, so a round is reproducible.
    crossing.sort_by(|x, y| y.0.cmp(&x.0).then((x.1, x.2).cmp(&(y.1, y.2))));
    let mut residual: Option<Vec<u64>> = None;
    let mut actions = Vec::new();
    let mut stuck = Vec::new();
    let mut spared = 0;
    for (need, src, dst, a, b) in crossing {
        if left <= cools_at {
            spared += 1;
            continue;
        }
        let residual = residual.get_or_insert_with(&residual_now);
        match snap.constrained_path(a, b, need, residual) {
            Ok(c) if c.fit == Fit::Satisfies && !c.path.links.contains(&link) => {
                for l in &c.path.links {
                    if let Some(r) = snap.link_idx(*l).and_then(|i| residual.get_mut(i as usize)) {
                        *r = r.saturating_sub(need);
                    }
                }
                left -= need as f64;
                steered.insert((src, dst));
                actions.push(Action::InstallPath {
                    src,
                    dst,
                    links: c.path.links,
                    exit: snap.host(dst),
                    decision,
                });
            }
            _ => stuck.push(format!("{src}->{dst} ({need} bit/s)")),
        }
    }
    let found =
        !actions.is_empty() || !stuck.is_empty() || !stays.is_empty() || before + idle + spared > 0;
    let mut text = match (actions.len(), stuck.is_empty()) {
        (0, true) if before > 0 => {
            format!("its {before} pair(s) with a forecast already steered this round")
        }
        (0, true) if !stays.is_empty() => "no pair to move".to_string(),
        (0, true) if idle > 0 => format!("the {idle} pair(s) crossing it are forecast idle"),
        (0, true) => "no host pair with a forecast crosses it".to_string(),
        (n, true) => format!("{n} pair(s) steered to paths with room"),
        (n, false) => format!(
            "{n} pair(s) steered; no alternative path with room for {}",
            stuck.join(", ")
        ),
    };
    if !stays.is_empty() {
        text.push_str(&format!(
            "; steered onto it lately, so held there for {} s: {}",
            inp.hold_down.as_secs(),
            stays.join(", ")
        ));
    }
    if spared > 0 {
        text.push_str(&format!(
            "; {spared} smaller pair(s) left in place: the moves bring its peak to {:.0}% of capacity, under the {:.0}% at which it cools",
            left.max(0.0) / cap.max(1) as f64 * 100.0,
            (inp.threshold - inp.hysteresis) * 100.0
        ));
    }
    Steering {
        actions,
        text,
        found,
        held_until,
    }
}
