//! Training jobs (DESIGN.md §5): `POST /api/training/start` queues a job (a
//! worker — the one inside `serve`, or `detective worker` processes — runs
//! it), `POST /api/training/{id}/stop` stops it gracefully (the last
//! checkpoint is kept), `GET /api/training/{id}` tells status, epoch, per-epoch
//! losses and metrics and ETA, `GET /api/training/{id}/events` streams the same
//! as server-sent events, `GET /api/training/{id}/charts/{chart}` draws its
//! curves, `GET /api/training` lists jobs newest first.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use axum::response::sse::{Event, KeepAlive, Sse};
use detective_core::JobStatus;
use detective_ops::job_request::TrainingRequest;
use detective_ops::training;
use detective_store::training_jobs::Job;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use crate::auth::{Can, Operate, Read};
use crate::charts;
use crate::problem::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::state::AppState;

#[utoipa::path(post, path = "/api/training/start",
    request_body(content = Object, description = "{dataset_id, dataset_version?, task?: detect|segment|anomaly, model?: t|n|s|unet-tiny, epochs?, imgsz?, batch?, base_model?: name@v|production|bundled|prior (default for detect)|none (random weights), model_name?, seed?, mosaic?, close_mosaic?, lr0?, patience?}"),
    responses((status = 201, description = "the queued job"), (status = 400, description = "bad request")),
    security(("bearer" = [])))]
pub async fn start(
    State(st): State<AppState>,
    caller: Can<Operate>,
    ApiJson(req): ApiJson<TrainingRequest>,
) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    let job = training::start(&st.db, req, &caller.key_name).await?;
    Ok((axum::http::StatusCode::CREATED, Json(training::view(&job))))
}

#[utoipa::path(post, path = "/api/training/{id}/stop", params(("id" = i64, Path, description = "job id")),
    responses((status = 200, description = "the job, stopping or stopped"), (status = 409, description = "already finished")),
    security(("bearer" = [])))]
pub async fn stop(
    State(st): State<AppState>,
    caller: Can<Operate>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    let job = training::stop(&st.db, id).await?;
    tracing::info!(job = id, by = %caller.key_name, "training job stop requested");
    Ok(Json(training::view(&job)))
}

#[utoipa::path(get, path = "/api/training/{id}", params(("id" = i64, Path, description = "job id")),
    responses((status = 200, description = "status, epoch, history (per-epoch losses and metrics), progress, eta_s, log")),
    security(("bearer" = [])))]
pub async fn get(State(st): State<AppState>, _: Can<Read>, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Value>> {
    Ok(Json(training::detail(&st.db, id).await?))
}

/// One chart of a job's epochs as SVG: `loss.svg` (a detector's box, cls and
/// dfl loss; a segmenter's BCE and soft Dice) or `map.svg` (validation: a
/// detector's mAP50 and mAP50-95; a segmenter's Dice and fitness).
#[utoipa::path(get, path = "/api/training/{id}/charts/{chart}",
    params(("id" = i64, Path, description = "job id"), ("chart" = String, Path, description = "loss.svg or map.svg")),
    responses((status = 200, description = "image/svg+xml"), (status = 404, description = "no such job or chart")),
    security(("bearer" = [])))]
pub async fn chart(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiPath((id, chart)): ApiPath<(i64, String)>,
) -> ApiResult<Response> {
    let job = training::get(&st.db, id).await?;
    let history = job.history.as_array().map(Vec::as_slice).unwrap_or_default();
    let Some(svg) = charts::epochs::draw(&chart, job.task, history) else {
        return Err(ApiError::not_found(format!(
            "no chart {chart:?} (charts: {})",
            charts::epochs::CHARTS.join(", ")
        )));
    };
    Ok(charts::response(svg?))
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
    _: Can<Read>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    let status = q.status.as_deref().map(str::parse::<JobStatus>).transpose()?;
    let (jobs, next) = training::list(&st.db, status, q.cursor, q.limit.unwrap_or(50)).await?;
    let items: Vec<Value> = jobs
        .iter()
        .map(|j| {
            let mut v = training::view(j);
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
    _: Can<Read>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>>> {
    training::get(&st.db, id).await?;
    let stream = job_events(st.db.clone(), id);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Polls job `id` every 0.7 s and yields what changed, until it ends.
fn job_events(
    db: detective_store::Db,
    id: i64,
) -> impl futures::Stream<Item = Result<Event, std::convert::Infallible>> {
    use futures::StreamExt;
    let seen = Seen {
        stamp: String::new(),
        epochs: 0,
        log_len: 0,
        log_tail: String::new(),
        ended: false,
    };
    futures::stream::unfold((seen, db, true), move |(mut seen, db, first)| async move {
        if seen.ended {
            return None;
        }
        if !first {
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
        let events = match training::get(&db, id).await {
            Ok(job) => changes(&job, &mut seen),
            Err(e) => {
                seen.ended = true;
                vec![Event::default().event("error").data(e.to_string())]
            }
        };
        Some((futures::stream::iter(events), (seen, db, false)))
    })
    .flatten()
    .map(Ok)
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
        let mut v = training::view(job);
        if let Some(o) = v.as_object_mut() {
            o.remove("log");
            o.remove("history");
        }
        out.push(Event::default().event("job").json_data(&v).unwrap_or_default());
        seen.stamp = stamp;
    }
    if job.status.is_finished() {
        out.push(Event::default().event("end").data(job.status.as_str()));
        seen.ended = true;
    }
    out
}
