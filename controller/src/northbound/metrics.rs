//! `GET /metrics`: Prometheus text exposition (format 0.0.4), written by hand.
//!
//! Every labelled family always lists each protocol (`openflow`, `p4runtime`), zero or not, so
//! queries never see a series appear from nowhere.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use prescient_southbound::latency::LatencySnapshot;
use prescient_topology::Protocol;

use super::ApiState;

const PROTOCOLS: [(Protocol, &str); 2] = [
    (Protocol::OpenFlow, "openflow"),
    (Protocol::P4Runtime, "p4runtime"),
];

/// Escapes a label value (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

/// Writes one labelled histogram series (cumulative buckets, sum, count).
fn histogram_series(out: &mut String, name: &str, labels: &str, h: &LatencySnapshot) {
    for (le, count) in &h.buckets {
        let le = if le.is_finite() {
            le.to_string()
        } else {
            "+Inf".to_string()
        };
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {count}");
    }
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum_secs);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
}

/// The metrics page.
pub async fn render(State(s): State<ApiState>) -> impl IntoResponse {
    let now = s.core.now();
    let mut out = String::new();
    // Two tuples: eleven values in one are past what rustfmt lays out in 100 columns.
    let (
        (devices, links, hosts, reservations, reserved, hot),
        (anomalies, decisions, errors, compact, events),
    ) =
        // Under the core's lock: nothing here walks the series or every link (the error per
        // model is kept as series step; only links carrying a reservation are summed).
        s.core.read(|c| {
            let topo = c.topology();
            ((
                PROTOCOLS.map(|(p, _)| {
                    topo.devices()
                        .filter(|d| d.up && d.id.protocol == p)
                        .count()
                }),
                topo.link_count(),
                topo.host_count(),
                c.ledger().reservations().count(),
                c.ledger()
                    .reserved_links()
                    .filter(|l| topo.link(**l).is_some())
                    .map(|l| c.reserved_now(*l, now))
                    .sum::<u64>(),
                c.hot_links().len(),
            ), (
                c.anomalies().total(),
                c.decisions().total(),
                c.model_errors(),
                c.compact_series_count(),
                c.calendar().count(),
            ))
        });
    let one = |v: f64| vec![(String::new(), v)];
    let per_protocol: Vec<(String, f64)> = PROTOCOLS
        .iter()
        .zip(devices)
        .map(|((_, name), n)| (format!("{{protocol=\"{name}\"}}"), n as f64))
        .collect();
    metric(
        &mut out,
        "prescient_devices_connected",
        "gauge",
        "Devices connected, by southbound protocol.",
        &per_protocol,
    );
    metric(
        &mut out,
        "prescient_links",
        "gauge",
        "Links discovered.",
        &one(links as f64),
    );
    metric(
        &mut out,
        "prescient_runtime_tasks",
        "gauge",
        "Tasks alive on the controller's main runtime (a count that only grows is a leak).",
        &one(tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks() as f64),
    );
    if let Some(cluster) = &s.cluster {
        let leader = if cluster.is_leader() { 1.0 } else { 0.0 };
        metric(
            &mut out,
            "prescient_cluster_leader",
            "gauge",
            "1 while this node leads the cluster, 0 while it follows.",
            &[(
                format!("{{node=\"{}\"}}", label(&cluster.me().name)),
                leader,
            )],
        );
        metric(
            &mut out,
            "prescient_cluster_term",
            "gauge",
            "The current leader's term (etcd revision of its election key; 0: none).",
            &one(cluster.term() as f64),
        );
    }
    metric(
        &mut out,
        "prescient_hosts",
        "gauge",
        "Hosts known.",
        &one(hosts as f64),
    );
    metric(
        &mut out,
        "prescient_reservations",
        "gauge",
        "Reservations admitted and not yet ended.",
        &one(reservations as f64),
    );
    metric(
        &mut out,
        "prescient_reserved_bps",
        "gauge",
        "Bandwidth reserved now, summed over links.",
        &one(reserved as f64),
    );
    metric(
        &mut out,
        "prescient_calendar_events",
        "gauge",
        "Scheduled events held, over or not (at most 1024; those over go after \
         calendar_retention_secs).",
        &one(events as f64),
    );
    metric(
        &mut out,
        "prescient_hot_links",
        "gauge",
        "Links predicted above the hot threshold.",
        &one(hot as f64),
    );
    metric(
        &mut out,
        "prescient_anomalies_total",
        "counter",
        "Actuals outside their 99% interval.",
        &one(anomalies as f64),
    );
    metric(
        &mut out,
        "prescient_decisions_total",
        "counter",
        "Decisions recorded.",
        &one(decisions as f64),
    );
    let errs: Vec<(String, f64)> = errors
        .into_iter()
        .map(|(m, mae)| (format!("{{model=\"{}\"}}", label(m)), mae))
        .collect();
    metric(
        &mut out,
        "prescient_forecast_mae_bps",
        "gauge",
        "Mean absolute one-step forecast error, averaged over series, by model.",
        &errs,
    );
    let msgs: Vec<(String, f64)> = s
        .core
        .metrics()
        .messages()
        .into_iter()
        .map(|(k, v)| (format!("{{type=\"{}\"}}", label(&k)), v as f64))
        .collect();
    metric(
        &mut out,
        "prescient_southbound_messages_total",
        "counter",
        "Southbound messages handled, by type.",
        &msgs,
    );
    let rates: Vec<(String, f64)> = s
        .core
        .metrics()
        .message_rates()
        .into_iter()
        .map(|(k, v)| (format!("{{type=\"{}\"}}", label(&k)), v))
        .collect();
    metric(
        &mut out,
        "prescient_southbound_messages_per_second",
        "gauge",
        "Southbound messages per second over the last 10 complete seconds, by type.",
        &rates,
    );
    let sessions = s.core.metrics().openflow_sessions();
    let lldp = sessions.lldp_dropped();
    metric(
        &mut out,
        "prescient_southbound_dropped_total",
        "counter",
        "Packet-ins the OpenFlow sessions had no room for towards the core, by type (LLDP in a \
         lane of its own; other packet-ins may fill three quarters of the event stream).",
        &[
            ("{type=\"lldp\"}".to_string(), lldp as f64),
            (
                "{type=\"packet_in\"}".to_string(),
                sessions.events_dropped().saturating_sub(lldp) as f64,
            ),
        ],
    );
    metric(
        &mut out,
        "prescient_stats_polls_skipped_total",
        "counter",
        "OpenFlow statistics poll rounds skipped: the switch had not answered the last one, or \
         the controller had a quarter of its event stream still to take.",
        &one(sessions.polls_skipped() as f64),
    );
    let name = "prescient_southbound_write_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Device write latency: OpenFlow, a batch of flow/group/meter mods until its \
         barrier reply; P4Runtime, one Write RPC."
    );
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (p, pname) in PROTOCOLS {
        let h = s.core.metrics().write_latency(p).snapshot();
        histogram_series(&mut out, name, &format!("protocol=\"{pname}\""), &h);
    }
    let t = s.core.metrics().ticks();
    metric(
        &mut out,
        "prescient_ticks_total",
        "counter",
        "Control ticks run (one forecast round over every series, then the planners).",
        &one(t.count as f64),
    );
    metric(
        &mut out,
        "prescient_tick_running",
        "gauge",
        "1 while a control tick runs, else 0 (a tick that fails ends all the same).",
        &one(if s.core.metrics().tick_running() {
            1.0
        } else {
            0.0
        }),
    );
    metric(
        &mut out,
        "prescient_tick_late_seconds",
        "gauge",
        "How late the last control tick started against its schedule.",
        &one(t.last_late.as_secs_f64()),
    );
    metric(
        &mut out,
        "prescient_tick_late_max_seconds",
        "gauge",
        "The latest any control tick started since the controller started.",
        &one(t.max_late.as_secs_f64()),
    );
    metric(
        &mut out,
        "prescient_tick_duration_seconds",
        "gauge",
        "How long the last control tick (forecast round and planning) took.",
        &one(t.last_took.as_secs_f64()),
    );
    metric(
        &mut out,
        "prescient_tick_duration_max_seconds",
        "gauge",
        "The longest control tick since the controller started.",
        &one(t.max_took.as_secs_f64()),
    );
    metric(
        &mut out,
        "prescient_series",
        "gauge",
        "Series (links and host pairs) kept at the last control tick.",
        &one(t.series as f64),
    );
    metric(
        &mut out,
        "prescient_series_compact",
        "gauge",
        "Series running the compact scale tier ([planning] compact_above_series; model ar12).",
        &one(compact as f64),
    );
    metric(
        &mut out,
        "prescient_forecast_stride",
        "gauge",
        "Control ticks one forecast round over every series takes (each series steps every this many).",
        &one(f64::from(t.stride.max(1))),
    );
    metric(
        &mut out,
        "prescient_event_subscribers",
        "gauge",
        "Event stream subscribers.",
        &one(s.core.subscribers() as f64),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
