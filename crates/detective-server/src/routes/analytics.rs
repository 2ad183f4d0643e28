//! `GET /api/analytics/summary` and `GET /api/analytics/charts/{chart}`: the
//! defect rate over time (by hour, day or shift), by class, camera, line and
//! shift, the confidence histogram, and the root-cause comparison against the
//! previous period of the same length; charts as SVG drawn on the server.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use detective_core::insights::{Bucket, Summary};
use detective_ops::analytics;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::auth::{Can, Operate, Read};
use crate::charts;
use crate::problem::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::state::AppState;

/// Most predictions read for one period.
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

async fn summary_of(st: &AppState, r: &Range) -> Result<(Summary, bool), ApiError> {
    Ok(analytics::summary(&st.db, r.from, r.to, r.bucket).await?)
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
    _: Can<Read>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let r = q.range()?;
    let span = r.to - r.from;
    let c = analytics::compare_with_previous(&st.db, r.from, r.to, r.bucket, MIN_GROUP, 10).await?;
    Ok(Json(json!({
        "from": iso(r.from), "to": iso(r.to),
        "previous": {"from": iso(r.from - span), "to": iso(r.from)},
        "summary": c.summary,
        "root_cause": c.root_cause,
        "min_group": MIN_GROUP,
        "truncated": c.truncated,
    })))
}

/// One chart of a period as SVG: `rate.svg`, `classes.svg`, `cameras.svg`,
/// `lines.svg`, `shifts.svg` or `confidence.svg`.
#[utoipa::path(get, path = "/api/analytics/charts/{chart}", params(("chart" = String, Path, description = "rate.svg, classes.svg, cameras.svg, lines.svg, shifts.svg or confidence.svg"), RangeQuery),
    responses((status = 200, description = "image/svg+xml"), (status = 404, description = "unknown chart")), security(("bearer" = [])))]
pub async fn chart(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiPath(chart): ApiPath<String>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Response> {
    let r = q.range()?;
    let (s, _) = summary_of(&st, &r).await?;
    let live = st.thresholds().await;
    let band = (live.uncertain_low, live.uncertain_high);
    let Some(svg) = charts::analytics::draw(&chart, &s, r.bucket, band) else {
        return Err(ApiError::not_found(format!(
            "no chart {chart:?} (charts: {})",
            charts::analytics::CHARTS.join(", ")
        )));
    };
    Ok(charts::response(svg?))
}

/// The Insights panel: the period's figures as facts with ids, and sentences
/// that cite them, each passed by the checker (every number one of its cited
/// facts' values), written by the configured language model or by rule.
#[utoipa::path(get, path = "/api/analytics/insights", params(RangeQuery),
    responses((status = 200, description = "`{source: rules|embedded|openai, model, note, facts: [{id, label, value, unit, chart}], sentences: [{text, facts}], rejected, answer_id, written_at}`")),
    security(("bearer" = [])))]
pub async fn insights(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<detective_ops::insights::Insights>> {
    let r = q.range()?;
    Ok(Json(
        detective_ops::insights::insights(&st.db, &st.insights, r.from, r.to, MIN_GROUP).await?,
    ))
}

/// Marks a sentence of the Insights panel wrong; kept for review with the
/// prompt and the model's answer it came from. Anyone who reads the panel may
/// (it changes nothing but the review list).
#[utoipa::path(post, path = "/api/analytics/insights/feedback", request_body = detective_ops::insights::MarkWrong,
    responses((status = 201, description = "`{id}`"), (status = 400, description = "no such sentence in that answer, or too long"),
        (status = 404, description = "no such answer")),
    security(("bearer" = [])))]
pub async fn mark_wrong(
    State(st): State<AppState>,
    caller: Can<Read>,
    ApiJson(m): ApiJson<detective_ops::insights::MarkWrong>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let id = detective_ops::insights::mark_wrong(&st.db, m, &caller.key_name).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// The sentences marked wrong, newest first, each with the prompt and the
/// answer of the model that wrote it.
#[utoipa::path(get, path = "/api/analytics/insights/feedback",
    responses((status = 200, description = "`[{id, answer_id, source, sentence, facts, note, created_by, created_at, prompt, answer}]`")),
    security(("bearer" = [])))]
pub async fn feedback(
    State(st): State<AppState>,
    _: Can<Operate>,
) -> ApiResult<Json<Vec<detective_store::insight_log::Feedback>>> {
    Ok(Json(detective_store::insight_log::list_feedback(&st.db, 200).await?))
}

/// The miss rate found by review: of the frames the model called clean that a
/// person reviewed (sampled frames above all), how many they labelled
/// defective; by camera and by the reason the frame reached the queue.
#[utoipa::path(get, path = "/api/analytics/misses", params(RangeQuery),
    responses((status = 200, description = "`{from, to, reviewed_clean, missed, miss_rate, groups: [{camera_id, reason, reviewed_clean, missed, miss_rate}]}`")),
    security(("bearer" = [])))]
pub async fn misses(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let r = q.range()?;
    let groups = detective_store::labeling::misses(&st.db, r.from, r.to).await?;
    let rate = |missed: i64, reviewed: i64| (reviewed > 0).then(|| missed as f64 / reviewed as f64);
    let (reviewed, missed) = groups
        .iter()
        .fold((0, 0), |(a, b), g| (a + g.reviewed_clean, b + g.missed));
    let rows: Vec<serde_json::Value> = groups
        .iter()
        .map(|g| {
            json!({"camera_id": g.camera_id, "reason": g.reason, "reviewed_clean": g.reviewed_clean,
            "missed": g.missed, "miss_rate": rate(g.missed, g.reviewed_clean)})
        })
        .collect();
    Ok(Json(json!({
        "from": iso(r.from), "to": iso(r.to),
        "reviewed_clean": reviewed, "missed": missed, "miss_rate": rate(missed, reviewed),
        "groups": rows,
    })))
}
