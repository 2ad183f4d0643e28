//! Training jobs (DESIGN.md §5): `POST /api/training/start` queues a job (a
//! worker — the one inside `serve`, or `detective worker` processes — runs
//! it), `POST /api/training/{id}/stop` stops it gracefully (the last
//! checkpoint is kept), `GET /api/training/{id}` tells status, epoch, per-epoch
//! losses and metrics and ETA, `GET /api/training/{id}/events` streams the same
//! as server-sent events, `GET /api/training` lists jobs newest first.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use detective_core::Action;
use detective_ops::job_request::TrainingRequest;
use detective_store::training_jobs::{self, Job};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::problem::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::state::AppState;

/// A job with its completed fraction and estimated seconds left.
pub fn job_view(job: &Job) -> Value {
    let mut v = serde_json::to_value(job).unwrap_or_else(|_| json!({}));
    let epochs = job.epochs.max(1) as f64;
    let p = &job.progress;
    let fraction = match job.status.as_str() {
        "succeeded" => 1.0,
        "running" => {
            let epoch = p.get("epoch").and_then(Value::as_f64).unwrap_or(job.epoch as f64 + 1.0);
            let batch = p.get("batch").and_then(Value::as_f64).unwrap_or(0.0);
            let batches = p.get("batches").and_then(Value::as_f64).unwrap_or(1.0).max(1.0);
            (((epoch - 1.0).max(job.epoch as f64) + batch / batches) / epochs).clamp(0.0, 1.0)
        }
        _ => (job.epoch as f64 / epochs).clamp(0.0, 1.0),
    };
    let elapsed = p.get("elapsed_s").and_then(Value::as_f64);
    let eta = match (job.status.as_str(), elapsed) {
        ("running", Some(e)) if fraction > 0.0 => Some(e * (1.0 - fraction) / fraction),
        _ => None,
    };
    v["fraction"] = json!(fraction);
    v["eta_s"] = json!(eta);
    v
}

#[utoipa::path(post, path = "/api/training/start",
    request_body(content = Object, description = "{dataset_id, dataset_version?, task?: detect, model?: t|n|s, epochs?, imgsz?, batch?, base_model?: name@v|production, model_name?, seed?, mosaic?, close_mosaic?, lr0?, patience?}"),
    responses((status = 201, description = "the queued job"), (status = 400, description = "bad request")),
    security(("bearer" = [])))]
pub async fn start(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TrainingRequest>,
) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    caller.require(Action::Operate)?;
    let job = detective_ops::job_request::queue(&st.db, req, &caller.key_name).await?;
    Ok((axum::http::StatusCode::CREATED, Json(job_view(&job))))
}

#[utoipa::path(post, path = "/api/training/{id}/stop", params(("id" = i64, Path, description = "job id")),
    responses((status = 200, description = "the job, stopping or stopped"), (status = 409, description = "already finished")),
    security(("bearer" = [])))]
pub async fn stop(State(st): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    caller.require(Action::Operate)?;
    let job = training_jobs::request_stop(&st.db, id).await?;
    tracing::info!(job = id, by = %caller.key_name, "training job stop requested");
    Ok(Json(job_view(&job)))
}

#[utoipa::path(get, path = "/api/training/{id}", params(("id" = i64, Path, description = "job id")),
    responses((status = 200, description = "status, epoch, history (per-epoch losses and metrics), progress, eta_s, log")),
    security(("bearer" = [])))]
pub async fn get(State(st): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    caller.require(Action::Read)?;
    Ok(Json(job_view(&training_jobs::get(&st.db, id).await?)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// queued, running, succeeded, failed or stopped.
    pub status: Option<String>,
    /// Page size 1..=200 (default 50).
    pub limit: Option<usize>,
    /// The `next` of the previous page.
    pub cursor: Option<i64>,
}

#[utoipa::path(get, path = "/api/training", params(ListQuery),
    responses((status = 200, description = "{items, next}: jobs newest first (without their logs)")), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Action::Read)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request("limit must be within 1..200"));
    }
    let mut jobs = training_jobs::list(&st.db, q.status.as_deref(), q.cursor, limit + 1).await?;
    let next = if jobs.len() > limit {
        jobs.truncate(limit);
        jobs.last().map(|j| j.id)
    } else {
        None
    };
    let items: Vec<Value> = jobs
        .iter()
        .map(|j| {
            let mut v = job_view(j);
            if let Some(o) = v.as_object_mut() {
                o.remove("log");
            }
            v
        })
        .collect();
    Ok(Json(json!({"items": items, "next": next})))
}

/// What the event stream last sent.
struct Seen {
    stamp: String,
    epochs: usize,
    log_len: usize,
    log_tail: String,
    ended: bool,
}

#[utoipa::path(get, path = "/api/training/{id}/events", params(("id" = i64, Path, description = "job id")),
    responses((status = 200, content_type = "text/event-stream",
        description = "events `job` (the job view without history and log), `epoch` (a finished epoch's row), `log` (new log lines), `end` (final status), then the stream closes")),
    security(("bearer" = [])))]
pub async fn events(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>>> {
    use futures::StreamExt;
    caller.require(Action::Read)?;
    training_jobs::get(&st.db, id).await?;
    let seen = Seen {
        stamp: String::new(),
        epochs: 0,
        log_len: 0,
        log_tail: String::new(),
        ended: false,
    };
    let db = st.db.clone();
    let stream = futures::stream::unfold((seen, db, true), move |(mut seen, db, first)| async move {
        if seen.ended {
            return None;
        }
        if !first {
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
        let events = match training_jobs::get(&db, id).await {
            Ok(job) => changes(&job, &mut seen),
            Err(e) => {
                seen.ended = true;
                vec![Event::default().event("error").data(e.to_string())]
            }
        };
        Some((futures::stream::iter(events), (seen, db, false)))
    })
    .flatten()
    .map(Ok);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The events that bring a client from `seen` to `job`.
fn changes(job: &Job, seen: &mut Seen) -> Vec<Event> {
    let mut out = Vec::new();
    let history = job.history.as_array().cloned().unwrap_or_default();
    for row in history.iter().skip(seen.epochs) {
        out.push(Event::default().event("epoch").json_data(row).unwrap_or_default());
    }
    seen.epochs = history.len();
    let log = &job.log;
    let new_lines = if log.len() >= seen.log_len
        && log.is_char_boundary(seen.log_len)
        && log[..seen.log_len].ends_with(&seen.log_tail)
    {
        &log[seen.log_len..]
    } else {
        // The log was trimmed at its front: send what follows the last line seen.
        log.rfind(&seen.log_tail)
            .map_or(log.as_str(), |i| &log[i + seen.log_tail.len()..])
    };
    if !new_lines.is_empty() {
        out.push(Event::default().event("log").data(new_lines.trim_end_matches('\n')));
    }
    seen.log_len = log.len();
    seen.log_tail = log.lines().last().map(|l| format!("{l}\n")).unwrap_or_default();
    let stamp = format!("{}|{}|{:?}", job.status, job.updated_at, job.heartbeat_at);
    if stamp != seen.stamp {
        let mut v = job_view(job);
        if let Some(o) = v.as_object_mut() {
            o.remove("log");
            o.remove("history");
        }
        out.push(Event::default().event("job").json_data(&v).unwrap_or_default());
        seen.stamp = stamp;
    }
    if matches!(job.status.as_str(), "succeeded" | "failed" | "stopped") {
        out.push(Event::default().event("end").data(job.status.clone()));
        seen.ended = true;
    }
    out
}
