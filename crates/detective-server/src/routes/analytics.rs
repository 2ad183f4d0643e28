//! `GET /api/analytics/summary` and `GET /api/analytics/charts/{chart}`: the
//! defect rate over time (by hour, day or shift), by class, camera, line and
//! shift, the confidence histogram, and the root-cause comparison against the
//! previous period of the same length; charts as SVG drawn on the server.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use detective_core::Action;
use detective_core::insights::{Bucket, Observation, Summary, root_causes, summarize};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::problem::{ApiError, ApiQuery, ApiResult};
use crate::state::AppState;

/// Most predictions read for one period.
const MAX_ROWS: usize = 2_000_000;
/// Longest period analysed.
const MAX_SPAN_MS: i64 = 366 * 86_400_000;
/// Fewest predictions a group needs in both periods to be compared.
const MIN_GROUP: u64 = 20;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    /// RFC 3339 start (default: `to` minus 24 h).
    pub from: Option<String>,
    /// RFC 3339 end (default: now).
    pub to: Option<String>,
    /// `hour` (default), `day` or `shift`.
    pub bucket: Option<String>,
}

struct Range {
    from: i64,
    to: i64,
    bucket: Bucket,
}

impl RangeQuery {
    fn range(&self) -> Result<Range, ApiError> {
        let parse = |s: &str| detective_store::clock::parse_rfc3339_ms(s).map_err(ApiError::from);
        let to = match &self.to {
            Some(t) => parse(t)?,
            None => chrono::Utc::now().timestamp_millis(),
        };
        let from = match &self.from {
            Some(f) => parse(f)?,
            None => to - 86_400_000,
        };
        if from >= to {
            return Err(ApiError::bad_request("`from` must be before `to`"));
        }
        if to - from > MAX_SPAN_MS {
            return Err(ApiError::bad_request("the range may span at most 366 days"));
        }
        let bucket = match self.bucket.as_deref() {
            None => Bucket::Hour,
            Some(b) => Bucket::parse(b)
                .ok_or_else(|| ApiError::bad_request(format!("bucket={b}: expected hour, day or shift")))?,
        };
        Ok(Range { from, to, bucket })
    }
}

async fn period(st: &AppState, from: i64, to: i64) -> Result<(Vec<Observation>, bool), ApiError> {
    Ok(detective_store::analytics::observations(&st.db, from, to, MAX_ROWS).await?)
}

async fn summary_of(st: &AppState, r: &Range) -> Result<(Summary, bool), ApiError> {
    let (obs, truncated) = period(st, r.from, r.to).await?;
    let bucket = r.bucket;
    let (from, to) = (r.from, r.to);
    let s = tokio::task::spawn_blocking(move || summarize(&obs, from, to, bucket))
        .await
        .map_err(|e| ApiError::internal(format!("analytics: {e}")))?;
    Ok((s, truncated))
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Figures of a period and the groups that got worse against the period before it.
#[utoipa::path(get, path = "/api/analytics/summary", params(RangeQuery),
    responses((status = 200, description = "totals, series, groups, histogram, root_cause")), security(("bearer" = [])))]
pub async fn summary(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Action::Read)?;
    let r = q.range()?;
    let (now, truncated_now) = period(&st, r.from, r.to).await?;
    let span = r.to - r.from;
    let (before, truncated_before) = period(&st, r.from - span, r.from).await?;
    let (from, to, bucket) = (r.from, r.to, r.bucket);
    let (s, causes) =
        tokio::task::spawn_blocking(move || (summarize(&now, from, to, bucket), root_causes(&now, &before, MIN_GROUP)))
            .await
            .map_err(|e| ApiError::internal(format!("analytics: {e}")))?;
    Ok(Json(json!({
        "from": iso(r.from), "to": iso(r.to),
        "previous": {"from": iso(r.from - span), "to": iso(r.from)},
        "summary": s,
        "root_cause": causes.into_iter().take(10).collect::<Vec<_>>(),
        "min_group": MIN_GROUP,
        "truncated": truncated_now || truncated_before,
    })))
}

/// One chart of a period as SVG: `rate.svg`, `classes.svg`, `cameras.svg`,
/// `lines.svg`, `shifts.svg` or `confidence.svg`.
#[utoipa::path(get, path = "/api/analytics/charts/{chart}", params(("chart" = String, Path, description = "rate.svg, classes.svg, cameras.svg, lines.svg, shifts.svg or confidence.svg"), RangeQuery),
    responses((status = 200, description = "image/svg+xml"), (status = 404, description = "unknown chart")), security(("bearer" = [])))]
pub async fn chart(
    State(st): State<AppState>,
    caller: Caller,
    Path(chart): Path<String>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Response> {
    caller.require(Action::Read)?;
    const CHARTS: [&str; 6] = [
        "rate.svg",
        "classes.svg",
        "cameras.svg",
        "lines.svg",
        "shifts.svg",
        "confidence.svg",
    ];
    if !CHARTS.contains(&chart.as_str()) {
        return Err(ApiError::not_found(format!(
            "no chart {chart:?} (charts: {})",
            CHARTS.join(", ")
        )));
    }
    let r = q.range()?;
    let (s, _) = summary_of(&st, &r).await?;
    let live = st.thresholds().await;
    let band = (live.uncertain_low, live.uncertain_high);
    let svg = match chart.as_str() {
        "rate.svg" => crate::charts::rate_over_time(&s.series, r.bucket),
        "classes.svg" => crate::charts::bars(&s.by_class, false, "classes"),
        "cameras.svg" => crate::charts::bars(&s.by_camera, true, "cameras"),
        "lines.svg" => crate::charts::bars(&s.by_line, true, "lines"),
        "shifts.svg" => crate::charts::bars(&s.by_shift, true, "shifts"),
        _ => crate::charts::confidence_histogram(&s.confidence_histogram, band),
    }
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "private, max-age=30"),
        ],
        svg,
    )
        .into_response())
}
