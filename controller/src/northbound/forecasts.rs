//! Forecast reads: per link and per host pair (history, past one-step forecasts with their
//! intervals, the forecast ahead, model and error), anomalies and decisions.

use axum::extract::{Path, State};
use axum::Json;

use super::dto::{ErrorBody, ErrorDto, ForecastDto, PointDto};
use super::error::ApiError;
use super::ApiState;
use crate::core::naming::{parse_link, parse_mac};
use crate::core::series::{Interval, Point};
use crate::core::{Anomaly, Decision, Series, SeriesKey};

fn point(p: &Point) -> PointDto {
    let lo = |i: Interval| i.map(|b| b.0);
    let hi = |i: Interval| i.map(|b| b.1);
    PointDto {
        at_ns: p.at.nanos(),
        value: Some(p.value),
        lo80: lo(p.i80),
        hi80: hi(p.i80),
        lo95: lo(p.i95),
        hi95: hi(p.i95),
    }
}

fn dto(key: &SeriesKey, s: &Series, interval_secs: f64) -> ForecastDto {
    let e = s.error();
    ForecastDto {
        series: key.label(),
        model: s.model().name().to_string(),
        interval_secs,
        observed: s.observed(),
        history: s
            .actuals()
            .map(|(at, v)| PointDto {
                at_ns: at.nanos(),
                value: *v,
                lo80: None,
                hi80: None,
                lo95: None,
                hi95: None,
            })
            .collect(),
        past_forecasts: s.past().map(point).collect(),
        forecast: s.forecast().iter().map(point).collect(),
        error: ErrorDto {
            scored: e.scored,
            mae_bps: e.mae,
            coverage_95: e.coverage95,
        },
    }
}

fn lookup(s: &ApiState, key: SeriesKey) -> Result<ForecastDto, ApiError> {
    s.core
        .read(|c| {
            let secs = c.config().control_interval.as_secs_f64();
            c.series(&key).map(|series| dto(&key, series, secs))
        })
        .ok_or_else(|| {
            ApiError::NotFound(format!("no forecast for {} yet (no samples)", key.label()))
        })
}

/// A link's history and forecast.
#[utoipa::path(get, path = "/api/v1/forecasts/links/{id}", tag = "forecasts",
    params(("id" = String, Path, description = "Link id `<device>:<port>,<device>:<port>`")),
    responses(
        (status = 200, description = "The forecast", body = ForecastDto),
        (status = 404, description = "No such link or no samples yet", body = ErrorBody),
        (status = 422, description = "Malformed link id", body = ErrorBody)))]
pub async fn link(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<ForecastDto>, ApiError> {
    let key = parse_link(&id).ok_or_else(|| {
        ApiError::invalid(
            "id",
            format!("{id:?} is not a link id `<device>:<port>,<device>:<port>`"),
        )
    })?;
    lookup(&s, SeriesKey::Link(key)).map(Json)
}

/// A host pair's history and forecast.
#[utoipa::path(get, path = "/api/v1/forecasts/pairs/{src}/{dst}", tag = "forecasts",
    params(("src" = String, Path, description = "Source host MAC"),
           ("dst" = String, Path, description = "Destination host MAC")),
    responses(
        (status = 200, description = "The forecast", body = ForecastDto),
        (status = 404, description = "No samples for this pair yet", body = ErrorBody),
        (status = 422, description = "Malformed MAC", body = ErrorBody)))]
pub async fn pair(
    State(s): State<ApiState>,
    Path((src, dst)): Path<(String, String)>,
) -> Result<Json<ForecastDto>, ApiError> {
    let mac = |t: &str, f: &str| {
        parse_mac(t)
            .ok_or_else(|| ApiError::invalid(f, format!("{t:?} is not a MAC aa:bb:cc:dd:ee:ff")))
    };
    let key = SeriesKey::Pair(mac(&src, "src")?, mac(&dst, "dst")?);
    lookup(&s, key).map(Json)
}

/// Recent anomalies (actuals outside their 99 % interval), oldest first.
#[utoipa::path(get, path = "/api/v1/anomalies", tag = "forecasts",
    responses((status = 200, description = "Anomalies", body = [Anomaly])))]
pub async fn anomalies(State(s): State<ApiState>) -> Json<Vec<Anomaly>> {
    Json(s.core.read(|c| c.anomalies().iter().cloned().collect()))
}

/// Recent decisions with their reasons, oldest first.
#[utoipa::path(get, path = "/api/v1/decisions", tag = "decisions",
    responses((status = 200, description = "Decisions", body = [Decision])))]
pub async fn decisions(State(s): State<ApiState>) -> Json<Vec<Decision>> {
    Json(s.core.read(|c| c.decisions().iter().cloned().collect()))
}
