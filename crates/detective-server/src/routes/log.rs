//! `POST /api/log`: a batch of predictions from an edge agent, as JSON, or as
//! multipart with the JSON in a part named `batch` and frame JPEGs in parts
//! named `frame` whose file name is `{prediction id}.jpg`. The whole batch is
//! validated first (one bad prediction refuses it, naming its index), frames go
//! to the object store, then everything is committed in one transaction; the
//! answer comes only after the commit and is the same for a repeated batch.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::CONTENT_TYPE;
use detective_core::LogBatch;
use detective_store::predictions::IngestSummary;
use detective_store::shared_events::SharedEvent;
use serde_json::json;

use crate::auth::{Can, Log};
use crate::problem::{ApiError, ApiMultipart, ApiResult};
use crate::state::{AppState, Counters};

fn refuse(e: detective_core::BatchError) -> ApiError {
    let extra = json!({ "index": e.index });
    ApiError::unprocessable(e.to_string()).with(extra)
}

/// Parses a batch; when one prediction does not parse, names its index (422),
/// otherwise a syntax error is 400.
fn parse_batch(bytes: &[u8]) -> Result<LogBatch, ApiError> {
    let err = match serde_json::from_slice::<LogBatch>(bytes) {
        Ok(b) => return Ok(b),
        Err(e) => e,
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Err(ApiError::bad_request(format!("malformed JSON: {err}")));
    };
    if let Some(preds) = value.get("predictions").and_then(|p| p.as_array()) {
        for (i, p) in preds.iter().enumerate() {
            if let Err(e) = serde_json::from_value::<detective_core::LoggedPrediction>(p.clone()) {
                return Err(ApiError::unprocessable(format!("predictions[{i}]: {e}")).with(json!({ "index": i })));
            }
        }
    }
    Err(ApiError::unprocessable(format!("not a prediction batch: {err}")).with(json!({ "index": null })))
}

/// Reads the batch and its frames (`(prediction id, JPEG)`) from a JSON or
/// multipart body.
async fn read_batch(st: &AppState, req: Request) -> ApiResult<(LogBatch, Vec<(String, Bytes)>)> {
    let is_multipart = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if is_multipart {
        let ApiMultipart(mut mp) = ApiMultipart::from_request(req, st).await?;
        let mut batch: Option<LogBatch> = None;
        let mut frames: Vec<(String, Bytes)> = Vec::new();
        while let Some(field) = mp.next_field().await? {
            match field.name().unwrap_or("") {
                "batch" => {
                    batch = Some(parse_batch(&field.bytes().await?)?);
                }
                "frame" => {
                    let name = field.file_name().unwrap_or("").to_string();
                    let id = name
                        .strip_suffix(".jpg")
                        .or_else(|| name.strip_suffix(".jpeg"))
                        .filter(|s| detective_core::wire::is_uuid(s))
                        .ok_or_else(|| {
                            ApiError::bad_request(format!(
                                "frame part file name {name:?} must be {{prediction id}}.jpg"
                            ))
                        })?
                        .to_ascii_lowercase();
                    frames.push((id, field.bytes().await?));
                }
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unexpected multipart part {other:?}: expected `batch` and `frame`"
                    )));
                }
            }
        }
        let batch = batch.ok_or_else(|| ApiError::bad_request("multipart body has no `batch` part"))?;
        Ok((batch, frames))
    } else {
        let json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the batch as application/json, or as multipart/form-data with a `batch` part",
            ));
        }
        let bytes = Bytes::from_request(req, st)
            .await
            .map_err(|e| ApiError::new(e.status(), format!("reading the body: {}", e.body_text())))?;
        Ok((parse_batch(&bytes)?, Vec::new()))
    }
}

/// Counts a stored batch in `/metrics`: its size, and its frames, defective and
/// uncertain frames and detections by class, as far as they were new (a batch
/// sent again adds nothing; one partly seen before counts its detections in
/// proportion).
fn count_ingested(st: &AppState, batch: &detective_core::LogBatch, summary: &IngestSummary) {
    let m = &st.metrics;
    let camera = batch.camera_id.as_str();
    m.ingest_batch.observe(&[], batch.predictions.len() as f64);
    if summary.accepted == 0 {
        return;
    }
    m.ingested.add(&[camera], summary.accepted as u64);
    m.ingested_defective.add(&[camera], summary.defective as u64);
    m.ingested_uncertain.add(&[camera], summary.uncertain as u64);
    let mut by_class: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for d in batch.predictions.iter().flat_map(|p| &p.detections) {
        *by_class.entry(d.name.as_str()).or_default() += 1;
    }
    let share = summary.accepted as f64 / batch.predictions.len().max(1) as f64;
    for (class, n) in by_class {
        let class = if class.is_empty() { "unnamed" } else { class };
        m.ingested_defects.add(&[class], (n as f64 * share).round() as u64);
    }
}

/// Stores a batch of predictions (idempotent by prediction id).
#[utoipa::path(post, path = "/api/log", request_body(content = String, description = "LogBatch JSON (or multipart: part `batch` + parts `frame` named {id}.jpg)"),
    responses((status = 200, description = "accepted, defective, uncertain, frames"), (status = 422, description = "invalid batch, nothing stored")),
    security(("bearer" = [])))]
pub async fn log(State(st): State<AppState>, _: Can<Log>, req: Request) -> ApiResult<Json<IngestSummary>> {
    let (batch, frames) = read_batch(&st, req).await?;
    batch.validate().map_err(refuse)?;
    let bands = st.bands_of(&batch).await;
    let summary =
        detective_ops::ingest::log_batch(&st.db, &st.objects, &st.settings.limits, &bands, &batch, frames).await?;
    Counters::add(&st.counters.log_batches, 1);
    Counters::add(&st.counters.logged_predictions, summary.accepted as u64);
    count_ingested(&st, &batch, &summary);
    st.announce(SharedEvent::Logged {
        camera_id: batch.camera_id.clone(),
        accepted: summary.accepted,
        defective: summary.defective,
        uncertain: summary.uncertain,
    })
    .await;
    Ok(Json(summary))
}
