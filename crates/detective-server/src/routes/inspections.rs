//! `GET /api/inspection-logs`: the prediction log, filtered and keyset-paged as
//! `{"items": [...], "next": cursor-or-null}`; with `Accept: text/csv`, every
//! matching row (up to `limit`, default 100 000) as CSV (also with `format=csv`). `GET
//! /api/inspection-logs/{id}` is one prediction, `…/{id}/frame[?boxes=true]` its
//! kept JPEG (with its detections drawn in red when asked). `GET
//! /api/inspection-logs/events` is a server-sent event stream: one `logged` event
//! per stored batch, so the dashboard shows new rows as they arrive.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use detective_ops::inspections;
use detective_store::clock::parse_rfc3339_ms;
use detective_store::predictions::{LogFilter, LogRow};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::auth::{Can, Read};
use crate::problem::{ApiError, ApiPath, ApiQuery, ApiResult};
use crate::state::AppState;

/// Query of the inspection log.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    pub camera: Option<String>,
    /// RFC 3339; captured at or after.
    pub from: Option<String>,
    /// RFC 3339; captured before.
    pub to: Option<String>,
    /// Class name present in the prediction.
    pub class: Option<String>,
    pub min_conf: Option<f64>,
    pub max_conf: Option<f64>,
    pub uncertain: Option<bool>,
    pub defective: Option<bool>,
    /// Page size (JSON: 1..1000, default 100).
    pub limit: Option<usize>,
    /// `next` of the previous page.
    pub cursor: Option<String>,
    /// `csv` answers CSV like `Accept: text/csv` (for plain download links).
    pub format: Option<String>,
}

fn conf(name: &str, v: Option<f64>) -> Result<Option<f64>, ApiError> {
    match v {
        Some(x) if !(0.0..=1.0).contains(&x) => Err(ApiError::bad_request(format!("{name} must be within 0..1"))),
        _ => Ok(v),
    }
}

impl LogQuery {
    fn filter(&self) -> Result<LogFilter, ApiError> {
        Ok(LogFilter {
            camera: self.camera.clone(),
            from_ms: self.from.as_deref().map(parse_rfc3339_ms).transpose()?,
            to_ms: self.to.as_deref().map(parse_rfc3339_ms).transpose()?,
            class: self.class.clone(),
            min_confidence: conf("min_conf", self.min_conf)?,
            max_confidence: conf("max_conf", self.max_conf)?,
            uncertain: self.uncertain,
            defective: self.defective,
        })
    }
}

/// Lists logged predictions, newest first.
#[utoipa::path(get, path = "/api/inspection-logs", params(LogQuery),
    responses((status = 200, description = "{items, next} or text/csv")), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    _: Can<Read>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> ApiResult<Response> {
    let filter = q.filter()?;
    let wants_csv = match q.format.as_deref() {
        Some("csv") => true,
        Some("json") | None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv")),
        Some(other) => return Err(ApiError::bad_request(format!("format={other}: expected csv or json"))),
    };
    if wants_csv {
        let cap = q.limit.unwrap_or(100_000).clamp(1, 1_000_000);
        let out = inspections::csv(&st.db, &filter, q.cursor.clone(), cap).await?;
        let headers = [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"inspection-logs.csv\"",
            ),
        ];
        return Ok((headers, out).into_response());
    }
    let (items, next) = inspections::page(&st.db, &filter, q.cursor.as_deref(), q.limit.unwrap_or(100)).await?;
    Ok(Json(json!({ "items": items, "next": next })).into_response())
}

/// One logged prediction.
#[utoipa::path(get, path = "/api/inspection-logs/{id}", params(("id" = String, Path, description = "prediction id")),
    responses((status = 200, description = "the prediction"), (status = 404, description = "unknown id")),
    security(("bearer" = [])))]
pub async fn one(State(st): State<AppState>, _: Can<Read>, ApiPath(id): ApiPath<String>) -> ApiResult<Json<LogRow>> {
    Ok(Json(inspections::get(&st.db, &id).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FrameQuery {
    /// Draw the detections (red boxes with class and confidence).
    pub boxes: Option<bool>,
}

/// The JPEG kept with a prediction (defective and uncertain frames, when the agent sends them).
#[utoipa::path(get, path = "/api/inspection-logs/{id}/frame", params(("id" = String, Path, description = "prediction id"), FrameQuery),
    responses((status = 200, description = "image/jpeg"), (status = 404, description = "unknown id or no frame kept")),
    security(("bearer" = [])))]
pub async fn frame(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<FrameQuery>,
) -> ApiResult<Response> {
    let jpeg = inspections::frame(&st.db, &st.objects, &st.settings.limits, &id, q.boxes.unwrap_or(false)).await?;
    let headers = [
        (header::CONTENT_TYPE, "image/jpeg"),
        (header::CACHE_CONTROL, "private, max-age=86400"),
    ];
    Ok((headers, jpeg).into_response())
}

/// Server-sent events: `logged` with `{camera_id, accepted, defective, uncertain}`
/// for every batch stored from now on (a comment every 15 s keeps proxies open).
#[utoipa::path(get, path = "/api/inspection-logs/events",
    responses((status = 200, description = "text/event-stream of `logged` events")), security(("bearer" = [])))]
pub async fn events(
    State(st): State<AppState>,
    _: Can<Read>,
) -> ApiResult<
    axum::response::sse::Sse<impl futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>>,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use futures::StreamExt;
    let rx = st.logged.subscribe();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    let event = Event::default().event("logged").json_data(&ev).unwrap_or_default();
                    return Some((event, rx));
                }
                // Missed some: the client reloads anyway; go on with the next.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .map(Ok);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15))))
}
