//! Topology reads: devices with live port rates, links with utilisation, reservations and
//! forecast, hosts, and bandwidth-constrained paths.

use std::net::Ipv4Addr;

use axum::extract::State;
use axum::Json;
use prescient_topology::{DeviceId, Fit, PortRef, Window};

use super::dto::{
    DeviceDto, ErrorBody, ForecastSummary, HostDto, LinkDto, PathDto, PathQuery, PortDto,
};
use super::error::{ApiError, ApiQuery};
use super::page::{DevicePage, HostPage, LinkPage, Page, PageQuery};
use super::ApiState;
use crate::core::naming::{link_id, parse_link, parse_mac, port_id};
use crate::core::{Endpoint, ReserveError, SeriesKey, SharedCore};

/// Parses a device id, a host MAC or a known host's IPv4 address (looked up in `core`'s
/// topology); `field` names the parameter in the error.
pub fn endpoint(text: &str, field: &str, core: &SharedCore) -> Result<Endpoint, ApiError> {
    if let Some(d) = DeviceId::parse(text) {
        return Ok(Endpoint::Device(d));
    }
    if let Ok(ip) = text.parse::<Ipv4Addr>() {
        let mac = core.read(|c| {
            c.topology()
                .hosts()
                .find(|h| h.ips.contains(&ip))
                .map(|h| h.mac)
        });
        return mac.map(Endpoint::Host).ok_or_else(|| {
            ApiError::not_in_topology(
                field,
                format!("no known host has the IPv4 address {ip} (hosts are learned from their ARP and IPv4 traffic)"),
            )
        });
    }
    parse_mac(text).map(Endpoint::Host).ok_or_else(|| {
        ApiError::invalid(
            field,
            format!("{text:?} is neither a device id (of:<16 hex>, p4:<decimal>), a MAC (aa:bb:cc:dd:ee:ff) nor a host's IPv4 address"),
        )
    })
}

/// Devices with their ports and live rates, in id order; paginated with `?limit=&cursor=`.
#[utoipa::path(get, path = "/api/v1/devices", tag = "topology", params(DevicePage),
    responses((status = 200, description = "Devices (a page of them with `limit`)", body = [DeviceDto],
        headers(
            ("X-Total-Count" = u64, description = "Devices in the whole list"),
            ("X-Next-Cursor" = String, description = "`cursor` of the next page; absent on the last")))))]
pub async fn devices(
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Page<DeviceDto>, ApiError> {
    let limit = q.limit()?;
    let after = q.cursor(DeviceId::parse, "a device id (of:<hex>, p4:<decimal>)")?;
    let now = s.core.now();
    Ok(s.core.read(|c| {
        let topo = c.topology();
        Page::take(topo.devices_after(after), limit, topo.device_count(), |d| {
            d.id.to_string()
        })
        .map(|d| DeviceDto {
            id: d.id.to_string(),
            name: d.name.clone(),
            up: d.up,
            ports: d
                .ports
                .values()
                .map(|p| {
                    let at = PortRef::new(d.id, p.no);
                    let rates = c.rates().port_rates(at, now);
                    PortDto {
                        no: p.no.0,
                        name: p.name.clone(),
                        mac: p.mac.to_string(),
                        up: p.up,
                        capacity_bps: c.topology().port_capacity(at).unwrap_or(0),
                        rx_bps: rates.map(|r| r.0.bits_per_sec),
                        tx_bps: rates.map(|r| r.1.bits_per_sec),
                    }
                })
                .collect(),
        })
    }))
}

/// Links with capacity, utilisation, reservations and forecast, in id order; paginated
/// with `?limit=&cursor=`.
#[utoipa::path(get, path = "/api/v1/links", tag = "topology", params(LinkPage),
    responses((status = 200, description = "Links (a page of them with `limit`)", body = [LinkDto],
        headers(
            ("X-Total-Count" = u64, description = "Links in the whole list"),
            ("X-Next-Cursor" = String, description = "`cursor` of the next page; absent on the last")))))]
pub async fn links(
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Page<LinkDto>, ApiError> {
    let limit = q.limit()?;
    let after = q.cursor(parse_link, "a link id <device>:<port>,<device>:<port>")?;
    let now = s.core.now();
    Ok(s.core.read(|c| {
        let topo = c.topology();
        Page::take(topo.links_after(after), limit, topo.link_count(), |l| {
            link_id(l.key)
        })
        .map(|l| {
            let capacity_bps = c.topology().link_capacity(l.key).unwrap_or(0);
            let rate = c.rates().link_rate(l.key, now).map(|r| r.0.bits_per_sec);
            let forecast = c.series(&SeriesKey::Link(l.key)).and_then(|s| {
                Some(ForecastSummary {
                    peak_bps: s.predicted_peak()?,
                    horizon_steps: s.forecast_len(),
                    model: s.model().name().to_string(),
                    hot: c.hot_links().contains(&l.key),
                })
            });
            LinkDto {
                id: link_id(l.key),
                src: port_id(l.key.src),
                dst: port_id(l.key.dst),
                capacity_bps,
                rate_bps: rate,
                utilisation: rate
                    .filter(|_| capacity_bps > 0)
                    .map(|r| r / capacity_bps as f64),
                reserved_bps: c.reserved_now(l.key, now),
                latency_us: l
                    .latency
                    .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
                forecast,
            }
        })
    }))
}

/// Known hosts, in MAC order; paginated with `?limit=&cursor=`.
#[utoipa::path(get, path = "/api/v1/hosts", tag = "topology", params(HostPage),
    responses((status = 200, description = "Hosts (a page of them with `limit`)", body = [HostDto],
        headers(
            ("X-Total-Count" = u64, description = "Hosts in the whole list"),
            ("X-Next-Cursor" = String, description = "`cursor` of the next page; absent on the last")))))]
pub async fn hosts(
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Page<HostDto>, ApiError> {
    let limit = q.limit()?;
    let after = q.cursor(parse_mac, "a MAC aa:bb:cc:dd:ee:ff")?;
    Ok(s.core.read(|c| {
        let topo = c.topology();
        Page::take(topo.hosts_after(after), limit, topo.host_count(), |h| {
            h.mac.to_string()
        })
        .map(|h| HostDto {
            mac: h.mac.to_string(),
            ips: h.ips.iter().map(|i| i.to_string()).collect(),
            at: port_id(h.at),
        })
    }))
}

/// A path between two devices or hosts; with `bandwidth`, one with that much free now
/// (or the widest, marked `widest_only`).
#[utoipa::path(get, path = "/api/v1/paths", tag = "topology", params(PathQuery),
    responses(
        (status = 200, description = "The path", body = PathDto),
        (status = 409, description = "`no_path`: not connected; `not_in_topology`: an endpoint the topology does not have", body = ErrorBody),
        (status = 422, description = "Malformed parameter", body = ErrorBody)))]
pub async fn paths(
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<PathQuery>,
) -> Result<Json<PathDto>, ApiError> {
    let src = endpoint(&q.src, "src", &s.core)?;
    let dst = endpoint(&q.dst, "dst", &s.core)?;
    if q.bandwidth == Some(0) {
        return Err(ApiError::invalid(
            "bandwidth",
            "bandwidth must be at least 1 bit/s",
        ));
    }
    let snap = s.core.snapshot();
    let resolve = |e: Endpoint, field: &'static str| match e {
        Endpoint::Device(d) if snap.contains_device(d) => Ok(d),
        Endpoint::Device(d) => Err(ReserveError::Path {
            field,
            source: prescient_topology::PathError::UnknownDevice(d),
        }),
        Endpoint::Host(m) => snap.host(m).map(|p| p.device).ok_or(ReserveError::Path {
            field,
            source: prescient_topology::PathError::UnknownHost(m),
        }),
    };
    let (a, b) = (resolve(src, "src")?, resolve(dst, "dst")?);
    let now = s.core.now();
    let wrap = |source| {
        ApiError::from(ReserveError::Path {
            field: "dst",
            source,
        })
    };
    let (path, fit) = match q.bandwidth {
        None => (snap.shortest_path(a, b).map_err(wrap)?, Fit::Satisfies),
        Some(bw) => {
            let w = Window::new(now, now.plus(std::time::Duration::from_nanos(1)));
            let residual = s.core.read(|c| c.ledger().residuals(&snap, w));
            let c = snap.constrained_path(a, b, bw, &residual).map_err(wrap)?;
            (c.path, c.fit)
        }
    };
    let (fit, bottleneck_bps) = match fit {
        Fit::Satisfies => ("satisfies", None),
        Fit::WidestOnly { bottleneck_bps } => ("widest_only", Some(bottleneck_bps)),
    };
    Ok(Json(PathDto {
        cost: path.cost,
        devices: path.devices.iter().map(|d| d.to_string()).collect(),
        links: path.links.iter().map(|l| link_id(*l)).collect(),
        fit: fit.to_string(),
        bottleneck_bps,
    }))
}
