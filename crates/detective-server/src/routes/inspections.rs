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
use detective_core::Action;
use detective_store::clock::parse_rfc3339_ms;
use detective_store::predictions::{LogFilter, LogRow, query};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::problem::{ApiError, ApiQuery, ApiResult};
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

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_row(r: &LogRow) -> String {
    let classes: Vec<&str> = r.detections.iter().map(|d| d.name.as_str()).collect();
    let dets = serde_json::to_string(&r.detections).unwrap_or_default();
    [
        r.id.clone(),
        csv_field(&r.camera_id),
        r.captured_at.clone(),
        csv_field(&r.model_version),
        r.detections.len().to_string(),
        format!("{:.4}", r.max_confidence),
        (r.defective as u8).to_string(),
        (r.uncertain as u8).to_string(),
        csv_field(&classes.join(" ")),
        csv_field(&dets),
        csv_field(r.frame_key.as_deref().unwrap_or("")),
    ]
    .join(",")
}

/// Lists logged predictions, newest first.
#[utoipa::path(get, path = "/api/inspection-logs", params(LogQuery),
    responses((status = 200, description = "{items, next} or text/csv")), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> ApiResult<Response> {
    caller.require(Action::Read)?;
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
        let mut out = String::from(
            "id,camera_id,captured_at,model_version,n_detections,max_confidence,defective,uncertain,classes,detections,frame_key\n",
        );
        let mut cursor = q.cursor.clone();
        let mut n = 0;
        while n < cap {
            let (rows, next) = query(&st.db, &filter, cursor.as_deref(), (cap - n).min(1000)).await?;
            for r in &rows {
                out.push_str(&csv_row(r));
                out.push('\n');
            }
            n += rows.len();
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"inspection-logs.csv\"",
                ),
            ],
            out,
        )
            .into_response());
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be within 1..1000"));
    }
    let (items, next) = query(&st.db, &filter, q.cursor.as_deref(), limit).await?;
    Ok(Json(json!({ "items": items, "next": next })).into_response())
}

/// One logged prediction.
#[utoipa::path(get, path = "/api/inspection-logs/{id}", params(("id" = String, Path, description = "prediction id")),
    responses((status = 200, description = "the prediction"), (status = 404, description = "unknown id")),
    security(("bearer" = [])))]
pub async fn one(
    State(st): State<AppState>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ApiResult<Json<LogRow>> {
    caller.require(Action::Read)?;
    if !detective_core::wire::is_uuid(&id) {
        return Err(ApiError::bad_request(format!("{id:?} is not a prediction id (a UUID)")));
    }
    Ok(Json(detective_store::predictions::get(&st.db, &id).await?))
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
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiQuery(q): ApiQuery<FrameQuery>,
) -> ApiResult<Response> {
    caller.require(Action::Read)?;
    if !detective_core::wire::is_uuid(&id) {
        return Err(ApiError::bad_request(format!("{id:?} is not a prediction id (a UUID)")));
    }
    let row = detective_store::predictions::get(&st.db, &id).await?;
    let key = row
        .frame_key
        .as_deref()
        .ok_or_else(|| ApiError::not_found(format!("prediction {id} has no frame kept")))?;
    let bytes = st.objects.get(key).await?;
    let cache = (header::CACHE_CONTROL, "private, max-age=86400");
    if !q.boxes.unwrap_or(false) {
        return Ok(([(header::CONTENT_TYPE, "image/jpeg"), cache], bytes).into_response());
    }
    let limits = st.settings.limits;
    let jpeg = tokio::task::spawn_blocking(move || {
        let mut f = detective_vision::decode::decode_image(&bytes, &limits)
            .map_err(|e| ApiError::internal(format!("stored frame: {e}")))?;
        let dets: Vec<detective_core::Detection> = row
            .detections
            .iter()
            .map(|d| detective_core::Detection {
                class_id: d.class,
                name: d.name.clone(),
                confidence: d.confidence,
                bbox: d.bbox.into(),
            })
            .collect();
        detective_vision::overlay::draw_detections(&mut f, &dets);
        detective_vision::encode::encode_jpeg(&f, 85).map_err(|e| ApiError::internal(format!("encoding: {e}")))
    })
    .await
    .map_err(|e| ApiError::internal(format!("drawing: {e}")))??;
    Ok(([(header::CONTENT_TYPE, "image/jpeg"), cache], jpeg).into_response())
}

/// Server-sent events: `logged` with `{camera_id, accepted, defective, uncertain}`
/// for every batch stored from now on (a comment every 15 s keeps proxies open).
#[utoipa::path(get, path = "/api/inspection-logs/events",
    responses((status = 200, description = "text/event-stream of `logged` events")), security(("bearer" = [])))]
pub async fn events(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<
    axum::response::sse::Sse<impl futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>>,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use futures::StreamExt;
    caller.require(Action::Read)?;
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
