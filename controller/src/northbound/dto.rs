//! The JSON shapes of the API (request bodies and responses), with their OpenAPI schemas.
//! Identifiers are text: devices `of:<16 hex>` / `p4:<decimal>`, ports `<device>:<port>`, links
//! `<port>,<port>` (see `core::naming`), MACs `aa:bb:cc:dd:ee:ff`, times in ns since the epoch.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::vocab::formats;

/// The one error shape.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (`malformed_json`, `invalid_value`, `not_found`,
    /// `insufficient_bandwidth`, `no_path`, `unauthorized`, ...).
    pub code: String,
    /// Explanation for people: which value and why.
    pub message: String,
    /// The request field at fault, when one is.
    pub field: Option<String>,
    /// For `insufficient_bandwidth`: the bottleneck link id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bottleneck_link: Option<String>,
    /// For `insufficient_bandwidth`: bits/s missing on the bottleneck.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_bps: Option<u64>,
}

/// A port with its live rates.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PortDto {
    /// Port number.
    pub no: u32,
    /// Interface name.
    pub name: String,
    /// Hardware address.
    pub mac: String,
    /// Link and administrative state up.
    pub up: bool,
    /// Capacity after configuration overrides, bits/s.
    pub capacity_bps: u64,
    /// Receive rate, bits/s (absent when no fresh sample).
    pub rx_bps: Option<f64>,
    /// Transmit rate, bits/s (absent when no fresh sample).
    pub tx_bps: Option<f64>,
}

/// A switch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceDto {
    /// Device id.
    pub id: String,
    /// The name people know it by (an Open vSwitch bridge's name), when the switch reports one.
    pub name: Option<String>,
    /// Connected.
    pub up: bool,
    /// Ports by number.
    pub ports: Vec<PortDto>,
}

/// A link's forecast in brief.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ForecastSummary {
    /// Largest upper 95 % bound over the horizon (point forecast where uncalibrated), bits/s.
    pub peak_bps: f64,
    /// Steps forecast.
    pub horizon_steps: usize,
    /// Model in use.
    pub model: String,
    /// Predicted above the hot threshold.
    pub hot: bool,
}

/// A directed link.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LinkDto {
    /// Link id (URL-safe).
    pub id: String,
    /// Transmitting port.
    pub src: String,
    /// Receiving port.
    pub dst: String,
    /// Capacity, bits/s.
    pub capacity_bps: u64,
    /// Current rate, bits/s (absent when no fresh sample).
    pub rate_bps: Option<f64>,
    /// Rate over capacity, 0..1 (absent without rate or capacity).
    pub utilisation: Option<f64>,
    /// Reserved now, bits/s.
    pub reserved_bps: u64,
    /// One-way latency measured by LLDP, microseconds.
    pub latency_us: Option<u64>,
    /// Forecast, once the link has had samples.
    pub forecast: Option<ForecastSummary>,
}

/// An end host.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HostDto {
    /// MAC address.
    pub mac: String,
    /// IPv4 addresses seen.
    pub ips: Vec<String>,
    /// Attachment port.
    pub at: String,
}

/// Query of `GET /paths`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathQuery {
    /// Source: device id, host MAC or a known host's IPv4 address.
    pub src: String,
    /// Destination: device id, host MAC or a known host's IPv4 address.
    pub dst: String,
    /// Bandwidth the path must have free (residual of reservations), bits/s.
    pub bandwidth: Option<u64>,
}

// By hand: the derive drops `required` from fields whose schema is given by a function.
impl IntoParams for PathQuery {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::Required;
        let endpoint = |name: &str, what: &str| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(Required::True)
                .description(Some(format!(
                    "{what}: device id, host MAC or a known host's IPv4 address"
                )))
                .schema(Some(formats::endpoint()))
                .build()
        };
        vec![
            endpoint("src", "Source"),
            endpoint("dst", "Destination"),
            ParameterBuilder::new()
                .name("bandwidth")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(
                    "Bandwidth the path must have free (residual of reservations), bits/s",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                            utoipa::openapi::KnownFormat::Int64,
                        )))
                        .minimum(Some(1)),
                ))
                .build(),
        ]
    }
}

/// A computed path.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PathDto {
    /// Sum of link costs.
    pub cost: u64,
    /// Devices visited.
    pub devices: Vec<String>,
    /// Link ids in order.
    pub links: Vec<String>,
    /// `satisfies`, or `widest_only` when no path has the bandwidth free.
    pub fit: String,
    /// For `widest_only`: the bottleneck residual, bits/s.
    pub bottleneck_bps: Option<u64>,
}

/// One point of a series.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PointDto {
    /// Time, ns since the epoch.
    pub at_ns: u64,
    /// Value, bits/s (absent: no fresh sample then).
    pub value: Option<f64>,
    /// 80 % interval lower bound (absent until calibrated).
    pub lo80: Option<f64>,
    /// 80 % interval upper bound.
    pub hi80: Option<f64>,
    /// 95 % interval lower bound.
    pub lo95: Option<f64>,
    /// 95 % interval upper bound.
    pub hi95: Option<f64>,
}

/// Recent one-step accuracy.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDto {
    /// Forecasts scored.
    pub scored: usize,
    /// Mean absolute error, bits/s.
    pub mae_bps: f64,
    /// Share of actuals inside their 95 % interval.
    pub coverage_95: Option<f64>,
}

/// A series' history and forecast.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ForecastDto {
    /// Series label.
    pub series: String,
    /// Model in use.
    pub model: String,
    /// Settings the series runs: full, or compact (the scale tier, above `[planning]
    /// compact_above_series` series).
    pub tier: String,
    /// Seconds between points.
    pub interval_secs: f64,
    /// Observations taken.
    pub observed: u64,
    /// Recent actuals (no intervals).
    pub history: Vec<PointDto>,
    /// The one-step forecasts made for the recent actuals, with their intervals.
    pub past_forecasts: Vec<PointDto>,
    /// The forecast ahead.
    pub forecast: Vec<PointDto>,
    /// Names of the scheduled events (`/api/v1/calendar`) the forecast ahead takes.
    pub events: Vec<String>,
    /// Recent error.
    pub error: ErrorDto,
}

/// A 5-tuple narrowing a reservation's traffic (at least one field; ports need `ip_proto` 6
/// or 17). It narrows within the traffic of the ends that are hosts (their MACs are matched
/// too); between two switches it must name `src_ip` or `dst_ip`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowMatchDto {
    /// Source IPv4 address.
    #[schema(value_type = Option<String>, format = Ipv4)]
    pub src_ip: Option<std::net::Ipv4Addr>,
    /// Destination IPv4 address.
    #[schema(value_type = Option<String>, format = Ipv4)]
    pub dst_ip: Option<std::net::Ipv4Addr>,
    /// IP protocol number.
    #[schema(maximum = 255)]
    pub ip_proto: Option<u8>,
    /// Transport source port (with `ip_proto` 6 or 17).
    #[schema(maximum = 65535)]
    pub src_port: Option<u16>,
    /// Transport destination port (with `ip_proto` 6 or 17).
    #[schema(maximum = 65535)]
    pub dst_port: Option<u16>,
}

/// A reservation request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservationBody {
    /// Source: host MAC, a known host's IPv4 address, or device id.
    #[schema(schema_with = formats::endpoint)]
    pub src: String,
    /// Destination: host MAC, a known host's IPv4 address, or device id.
    #[schema(schema_with = formats::endpoint)]
    pub dst: String,
    /// Bits per second, 1 ..= 10^13.
    #[schema(minimum = 1, maximum = 10_000_000_000_000_u64)]
    pub rate_bps: u64,
    /// Priority tier 0 ..= 7; higher tiers may preempt lower ones. Default 0.
    #[serde(default)]
    #[schema(maximum = 7)]
    pub tier: u8,
    /// Seconds from now until the window starts (at most ten years). Default 0.
    #[serde(default)]
    #[schema(maximum = 315_360_000)]
    pub start_in_secs: u64,
    /// Window length, seconds (1 ..= 10 years); absent: until released.
    #[schema(minimum = 1, maximum = 315_360_000)]
    pub duration_secs: Option<u64>,
    /// Narrow to a 5-tuple; absent: all traffic between the endpoints (from a switch to a
    /// host: all traffic to that host along the path). Required between two switches.
    #[serde(rename = "match")]
    pub flow: Option<FlowMatchDto>,
    /// Explicit path as link ids; absent: the planner picks one with room.
    #[schema(schema_with = formats::links)]
    pub path: Option<Vec<String>>,
}

/// Where a reservation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStateDto {
    /// Restored after a controller restart, waiting for its path to be discovered again (no
    /// meters yet); rerouted or dropped if it is not back within `store.restore_grace_ms`.
    Restoring,
    /// Its meters are installed (or being installed) on its path.
    Active,
    /// A host of its host pair moved to another switch and no path between the hosts'
    /// switches has room (or none joins them): it holds nothing (no capacity, no meters, empty
    /// `path`) and is placed again, keeping its id, when a path with room appears.
    Failed,
}

/// An admitted reservation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReservationDto {
    /// Id (kept across controller restarts).
    pub id: u64,
    /// Where it stands.
    pub state: ReservationStateDto,
    /// Who asked for it: `api` (a client; persisted) or `forecast` (the controller, from a
    /// host pair's forecast; resized, renewed and released by it, not persisted).
    pub origin: crate::core::Origin,
    /// Ingress device.
    pub src: String,
    /// Egress device.
    pub dst: String,
    /// Which traffic (`host_pair` with MACs, or `flow` with a 5-tuple and `src_mac`/`dst_mac`,
    /// the MACs of its ends that are hosts).
    #[schema(value_type = Object)]
    pub subject: serde_json::Value,
    /// Bits per second.
    pub rate_bps: u64,
    /// Tier.
    pub tier: u8,
    /// Window start, ns since the epoch.
    pub start_ns: u64,
    /// Window end, ns since the epoch.
    pub end_ns: u64,
    /// Link ids of its path (empty within one switch).
    pub path: Vec<String>,
    /// Whether its rate is enforced (what exceeds it is dropped): true for `api` reservations,
    /// false for `forecast` ones, which set capacity aside without a meter.
    pub policed: bool,
    /// Ports its traffic is held to: the egress port of every hop, or within one switch the
    /// port towards the destination host, metered or not.
    pub held_ports: Vec<String>,
    /// Ports a meter of it sits on (its `held_ports` when `policed`, else none).
    pub meter_ports: Vec<String>,
}

/// Answer to a successful `POST /reservations`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedDto {
    /// The reservation.
    pub reservation: ReservationDto,
    /// Ids of lower-tier reservations preempted for it.
    pub preempted: Vec<u64>,
    /// What the switches are asked to do, one line each.
    pub actions: Vec<String>,
    /// The admission decision's id.
    pub decision: u64,
}

/// Hypothetical demands.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIfBody {
    /// Demands, admitted in order (1 ..= 64).
    #[schema(min_items = 1, max_items = 64)]
    pub demands: Vec<ReservationBody>,
}

/// One demand's what-if outcome.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WhatIfOutcomeDto {
    /// Would be admitted.
    pub admitted: bool,
    /// Its path (when admitted).
    pub path: Vec<String>,
    /// Existing reservations it would preempt.
    pub preempted: Vec<u64>,
    /// Why not (when refused).
    pub error: Option<ErrorDetail>,
}

/// A link after the what-if demands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LinkProjectionDto {
    /// Link id.
    pub link: String,
    /// Capacity, bits/s.
    pub capacity_bps: u64,
    /// Peak commitment over the demands' windows, with them, bits/s.
    pub reserved_bps: u64,
    /// Forecast peak, bits/s.
    pub predicted_bps: Option<f64>,
    /// Reserved plus predicted would exceed the hot threshold (conservative: reserved traffic
    /// may already be inside the forecast).
    pub would_be_hot: bool,
}

/// The what-if answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WhatIfDto {
    /// One per demand, in order.
    pub outcomes: Vec<WhatIfOutcomeDto>,
    /// Links the admitted demands would use.
    pub links: Vec<LinkProjectionDto>,
}
