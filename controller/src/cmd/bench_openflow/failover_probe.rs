//! The driver loop's side of `bench openflow --forecast-series N`: how long a link failure
//! waits before the controller acts on it, during a control tick and between ticks.
//!
//! After the packet-in runs, an emulated ring of [`RING`] OpenFlow switches (`prescient-sim`)
//! joins the controller while the series are still fed. Once the controller has discovered the
//! ring's links, one of them goes down every [`EVERY`] (both ends send PORT_STATUS, as a cut
//! cable does) and comes back up as soon as the controller has seen it go; the next cut takes a
//! link the controller knows again (LLDP finds a link back within a probe interval). Each cut
//! is timed from the moment the link went down to the event stream (`/api/v1/events`, the
//! dashboard) announcing the port down: PORT_STATUS reaches the controller's driver loop, which
//! hands it to the core, and the same entry reroutes what crossed the link; its flow-mods
//! leave right after. Cuts are filed by whether a control tick ran meanwhile, like the REST
//! calls (`rest_probe.rs`).
//!
//! The ring joins after the packet-in runs because the generator's switches have the same
//! datapath ids (1, 2, ...).

use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use prescient_sim::openflow::{SimHandle, SimNetwork, SimOptions};
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_sim::traffic::TrafficConfig;
use prescient_southbound::openflow::wire::DatapathId;
use prescient_topology::{DeviceId, LinkKey, PortRef};

use super::tick_split::TickSplit;
use crate::core::{ControllerEvent, SharedCore};
use crate::vocab::naming::port_id;

/// Switches in the ring: enough links that a cut one has been rediscovered by the time the
/// rotation comes back to it.
const RING: usize = 48;

/// Time between two cuts' starts: not a divisor of the control interval (1 s), or every cut
/// would fall at the same phase of the tick and, with ticks shorter than the gap, none during
/// one (seen: 0 of 100 cuts with 80 ms ticks at 100 ms).
pub(super) const EVERY: Duration = Duration::from_millis(97);

/// Longest wait for the ring to connect and its links to be discovered.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// A cut the controller has not announced after this failed (it is far behind, not slow).
const TIMEOUT: Duration = Duration::from_secs(10);

/// The cuts made while measured (the failed ones: not announced within [`TIMEOUT`]).
pub(super) type Cuts = TickSplit;

/// The cuts' lines of the text report, under `name`.
pub(super) fn print(cuts: &Cuts, name: &str) {
    let heading = format!(
        "link cut -> port down on the event stream, a cut every {} ms in a ring of {RING}, {name}",
        EVERY.as_millis()
    );
    cuts.print(&heading, "cuts", "not announced");
}

/// The cuts' JSON, with the ring's size.
pub(super) fn json(cuts: &Cuts) -> serde_json::Value {
    let mut out = cuts.json();
    if let Some(fields) = out.as_object_mut() {
        fields.insert("ring_switches".into(), RING.into());
    }
    out
}

/// Connects the ring to the controller at `openflow`, waits for its links, cuts links for
/// `seconds`, and stops the ring.
pub(super) fn measure(
    rt: &tokio::runtime::Runtime,
    core: &Arc<SharedCore>,
    openflow: SocketAddr,
    seconds: u64,
) -> anyhow::Result<Cuts> {
    let topo = SimTopology::generate(TopologyKind::Ring(RING)).context("the ring")?;
    let links: Vec<(LinkKey, LinkKey)> = topo
        .links
        .iter()
        .filter_map(|l| {
            let end = |e: prescient_sim::topology::Endpoint| {
                let dpid = topo.switches.get(e.switch)?.dpid;
                Some(PortRef::new(
                    DeviceId::openflow(dpid.0),
                    prescient_topology::PortNo(e.port.0),
                ))
            };
            let (a, b) = (end(l.a)?, end(l.b)?);
            Some((LinkKey::new(a, b), LinkKey::new(b, a)))
        })
        .collect();
    let net = SimNetwork::build(topo, TrafficConfig::default()).with_options(SimOptions::default());
    let sim = {
        let _in_runtime = rt.enter();
        net.spawn(openflow)
    };
    let cuts = discovered(core, &links).and_then(|()| cut(rt, core, &sim, &links, seconds));
    rt.block_on(sim.shutdown());
    cuts
}

/// Waits until the controller knows every link of the ring, both ways.
fn discovered(core: &SharedCore, links: &[(LinkKey, LinkKey)]) -> anyhow::Result<()> {
    let deadline = Instant::now() + DISCOVERY_TIMEOUT;
    loop {
        let snapshot = core.snapshot();
        let known = links
            .iter()
            .filter(|(ab, ba)| snapshot.link_idx(*ab).is_some() && snapshot.link_idx(*ba).is_some())
            .count();
        if known == links.len() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the controller found {known} of the ring's {} links in {} s",
            links.len(),
            DISCOVERY_TIMEOUT.as_secs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Cuts a known link every [`EVERY`] for `seconds`, each timed to its announcement.
fn cut(
    rt: &tokio::runtime::Runtime,
    core: &Arc<SharedCore>,
    sim: &SimHandle,
    links: &[(LinkKey, LinkKey)],
    seconds: u64,
) -> anyhow::Result<Cuts> {
    let mut out = Cuts::new();
    let announced = listen(core);
    let metrics = core.metrics();
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut next = Instant::now();
    let mut turn = 0usize;
    while Instant::now() < until {
        let snapshot = core.published_snapshot();
        // The next link of the rotation the controller knows (again).
        let known = (0..links.len())
            .map(|k| (turn + k) % links.len())
            .find(|&i| {
                links.get(i).is_some_and(|(ab, ba)| {
                    snapshot.link_idx(*ab).is_some() && snapshot.link_idx(*ba).is_some()
                })
            });
        let Some(i) = known else {
            std::thread::sleep(EVERY);
            continue;
        };
        turn = i + 1;
        let Some(&(ab, _)) = links.get(i) else { break };
        let ends = [ab.src, ab.dst].map(|p| format!("port {} down", port_id(p)));
        let (a, b) = (DatapathId(ab.src.device.id), DatapathId(ab.dst.device.id));
        // Announcements of earlier cuts that came late are not this one's.
        while announced.try_recv().is_ok() {}
        let ticks_before = metrics.ticks().count;
        let running_before = metrics.tick_running();
        let started = Instant::now();
        rt.block_on(sim.set_link(a, b, false))
            .with_context(|| format!("cutting {a}-{b}"))?;
        let seen = wait_for(&announced, &ends, started + TIMEOUT);
        let overlapped =
            running_before || metrics.tick_running() || metrics.ticks().count != ticks_before;
        rt.block_on(sim.set_link(a, b, true))
            .with_context(|| format!("restoring {a}-{b}"))?;
        match seen {
            Some(at) => {
                let took = at.saturating_duration_since(started);
                let h = if overlapped {
                    &mut out.during
                } else {
                    &mut out.between
                };
                h.saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
            }
            None => out.failed += 1,
        }
        next += EVERY;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    Ok(out)
}

/// The core's topology changes, each line with when it was read off the event bus, from a
/// thread of its own (the bus is read as the SSE stream reads it).
fn listen(core: &SharedCore) -> mpsc::Receiver<(Instant, String)> {
    let mut bus = core.subscribe();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || loop {
        match bus.blocking_recv() {
            Ok(ControllerEvent::Topology { changes }) => {
                let at = Instant::now();
                if changes.into_iter().any(|c| tx.send((at, c)).is_err()) {
                    return;
                }
            }
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    });
    rx
}

/// When a change among `wanted` was announced, or None by `deadline`.
fn wait_for(
    announced: &mpsc::Receiver<(Instant, String)>,
    wanted: &[String],
    deadline: Instant,
) -> Option<Instant> {
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match announced.recv_timeout(left) {
            Ok((at, change)) if wanted.contains(&change) => return Some(at),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}
