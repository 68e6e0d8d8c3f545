//! Forecast reads: per link and per host pair (history, past one-step forecasts with their
//! intervals, the forecast ahead, model and error), anomalies and decisions; and what acting
//! on the forecasts was worth (`/evaluation`: what the controller planned against what came).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::Json;

use super::dto::{ErrorBody, ErrorDto, ForecastDto, PointDto};
use super::error::ApiError;
use super::ApiState;
use crate::core::naming::{parse_link, parse_mac};
use crate::core::series::{Interval, Point};
use crate::core::{Anomaly, Decision, Series, SeriesKey};
use crate::evaluate::live::{self, Comparison, Held};
use crate::vocab::formats;

/// Intervals the reactive rule of the live comparison holds its window maximum.
const REACTIVE_HOLD: usize = 5;

/// What the controller planned one interval ahead against what came, next to a reactive rule,
/// a static peak and the oracle over the same recent window (as `prescient evaluate` scores a
/// trace), for its host-pair and its link series.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct LiveEvaluationDto {
    /// Host-pair series (what forecast reservations are sized on).
    pub pairs: Comparison,
    /// Link series.
    pub links: Comparison,
}

/// A series' recent actuals with the planning bound its one-step forecast set for each.
fn held(s: &Series) -> Held {
    let planned: BTreeMap<u64, f64> = s.past().map(|p| (p.at.nanos(), p.bound)).collect();
    let (actual, planned) = s
        .actuals()
        .map(|(at, v)| (v, planned.get(&at.nanos()).copied()))
        .unzip();
    Held { actual, planned }
}

/// What acting on forecasts was worth on the live series.
#[utoipa::path(get, path = "/api/v1/evaluation", tag = "forecasts",
    responses((status = 200, description = "Planned against actual, per policy", body = LiveEvaluationDto)))]
pub async fn evaluation(State(s): State<ApiState>) -> Json<LiveEvaluationDto> {
    Json(s.core.read(|c| {
        let v = c.config().planning.violation_target;
        let (mut pairs, mut links) = (Vec::new(), Vec::new());
        for (k, series) in c.all_series() {
            match k {
                SeriesKey::Pair(..) => pairs.push(held(series)),
                SeriesKey::Link(_) => links.push(held(series)),
            }
        }
        LiveEvaluationDto {
            pairs: live::compare(&pairs, v, REACTIVE_HOLD),
            links: live::compare(&links, v, REACTIVE_HOLD),
        }
    }))
}

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
        tier: s.tier().name().to_string(),
        interval_secs,
        observed: s.observed(),
        history: s
            .actuals()
            .map(|(at, v)| PointDto {
                at_ns: at.nanos(),
                value: v,
                lo80: None,
                hi80: None,
                lo95: None,
                hi95: None,
            })
            .collect(),
        past_forecasts: s.past().map(|p| point(&p)).collect(),
        forecast: s.forecast().iter().map(point).collect(),
        events: s.events().iter().fold(Vec::new(), |mut names, (n, _)| {
            if !names.contains(n) {
                names.push(n.clone());
            }
            names
        }),
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

/// `{id}` of a link's forecast.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Describes the path for the document; the handler parses it itself.
struct LinkPath {
    /// Link id `<device>:<port>,<device>:<port>`.
    #[param(schema_with = formats::link)]
    id: String,
}

/// `{src}/{dst}` of a pair's forecast.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Describes the path for the document; the handler parses it itself.
struct PairPath {
    /// Source host MAC.
    #[param(schema_with = formats::mac)]
    src: String,
    /// Destination host MAC.
    #[param(schema_with = formats::mac)]
    dst: String,
}

/// A link's history and forecast.
#[utoipa::path(get, path = "/api/v1/forecasts/links/{id}", tag = "forecasts",
    params(LinkPath),
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
    params(PairPath),
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
