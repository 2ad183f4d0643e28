//! Health, metrics (JSON and Prometheus text) and the served model's status.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use detective_core::{Stage, Task};
use detective_ops::registry;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::{Can, FetchModel, Read};
use crate::problem::ApiResult;
use crate::state::{AppState, Counters};

/// One component's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct Component {
    /// `up` or `down`.
    pub status: &'static str,
    pub latency_ms: Option<f64>,
    pub detail: String,
}

/// `GET /api/health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when every component is up, else `degraded`.
    pub status: &'static str,
    pub database: Component,
    pub object_store: Component,
    pub model: Component,
    pub uptime_s: f64,
    pub version: &'static str,
}

fn up(latency: std::time::Duration, detail: String) -> Component {
    Component {
        status: "up",
        latency_ms: Some(latency.as_secs_f64() * 1000.0),
        detail,
    }
}

fn up_without_latency(detail: String) -> Component {
    Component {
        status: "up",
        latency_ms: None,
        detail,
    }
}

fn down(detail: String) -> Component {
    Component {
        status: "down",
        latency_ms: None,
        detail,
    }
}

/// Liveness and component status; 503 when a component is down. Needs no key,
/// so load balancers can probe it.
#[utoipa::path(get, path = "/api/health", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(State(st): State<AppState>) -> Response {
    let database = match st.db.ping().await {
        Ok(t) => up(t, format!("{} {}", st.db.backend().as_str(), st.db.display_url())),
        Err(e) => down(e.to_string()),
    };
    let object_store = match st.objects.ping().await {
        Ok(t) => up(t, st.objects.display().to_string()),
        Err(e) => down(e.to_string()),
    };
    let model = match &st.served.pool() {
        Some(p) => up_without_latency(format!("{} ({}, {})", p.name, p.model().backend, p.source)),
        None => down("no model loaded".into()),
    };
    let ok = [&database, &object_store, &model].iter().all(|c| c.status == "up");
    let body = Health {
        status: if ok { "ok" } else { "degraded" },
        database,
        object_store,
        model,
        uptime_s: st.started.elapsed().as_secs_f64(),
        version: env!("CARGO_PKG_VERSION"),
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// Live figures for the dashboard: ingest, defects, queue, cameras, predict load.
#[utoipa::path(get, path = "/api/metrics", responses((status = 200, description = "metrics object")), security(("bearer" = [])))]
pub async fn metrics(State(st): State<AppState>, _: Can<Read>) -> ApiResult<Json<serde_json::Value>> {
    let s = detective_ops::inspections::stats(&st.db).await?;
    let c = &st.counters;
    let (running, waiting) = st.served.pool().map(|p| p.load()).unwrap_or((0, 0));
    let predict_n = Counters::get(&c.predict_requests);
    Ok(Json(json!({
        "predictions_total": s.predictions_total,
        "predictions_today": s.predictions_today,
        "defective_today": s.defective_today,
        "defect_rate_today": s.defect_rate_today,
        "ingest_rate_per_s": s.ingest_rate_per_s,
        "uncertain_queue": s.uncertain_queue,
        "cameras": s.cameras,
        "predict": {
            "requests": predict_n,
            "rejected_busy": Counters::get(&c.predict_rejected_busy),
            "mean_ms": if predict_n > 0 { Counters::get(&c.predict_ms_total) as f64 / predict_n as f64 } else { 0.0 },
            "running": running,
            "waiting": waiting,
        },
        "uptime_s": st.started.elapsed().as_secs_f64(),
    })))
}

/// Prometheus text exposition of the same figures (scrape with a viewer key:
/// `authorization: {credentials: KEY}` in the scrape config).
pub async fn prometheus(State(st): State<AppState>, _: Can<Read>) -> ApiResult<Response> {
    let stats = detective_ops::inspections::stats(&st.db).await?;
    let gauges = scrape_gauges(&st).await?;
    let out = crate::prometheus::exposition(&stats, &st.counters, &gauges, &st.metrics);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

/// The gauges of `/metrics` read at scrape time.
async fn scrape_gauges(st: &AppState) -> Result<crate::prometheus::Gauges, crate::problem::ApiError> {
    let (predict_running, predict_waiting) = st.served.pool().map(|p| p.load()).unwrap_or((0, 0));
    let production = detective_store::models::production(&st.db)
        .await?
        .into_iter()
        .map(|v| (v.task.to_string(), v.name, v.version))
        .collect();
    Ok(crate::prometheus::Gauges {
        predict_running,
        predict_waiting,
        queue_depth: detective_store::workers::queue_depth(&st.db).await?,
        workers_alive: detective_store::workers::alive(&st.db, 30_000).await?,
        drift_share: detective_store::drift::latest(&st.db).await?.map(|r| r.drift_share),
        production,
    })
}

/// The model this process serves for `task` (stage None), when it serves one.
fn served_by_this_process(st: &AppState, task: Task) -> Option<serde_json::Value> {
    match task {
        Task::Segment => st.segmenter.get().map(|(p, version)| {
            let m = p.model();
            json!({"task": task, "name": p.name, "version": version, "stage": Stage::None,
                   "metrics": {}, "source": p.source, "backend": m.backend(),
                   "imgsz": m.imgsz(), "classes": m.names()})
        }),
        Task::Detect => st.served.get().map(|(p, version)| {
            let d = p.model();
            json!({"task": task, "name": p.name, "version": version, "stage": Stage::None,
                   "metrics": {}, "source": p.source, "backend": d.backend,
                   "imgsz": d.imgsz, "classes": d.names})
        }),
        // this process serves no anomaly model of its own (only a registered one)
        Task::Anomaly => None,
    }
}

/// Active model per task: the registry's Production version (with the names of
/// its files, for `GET /api/models/{name}/versions/{v}/files/{file}`), or the
/// model this process serves when the registry has none. Edge agents poll it.
#[utoipa::path(get, path = "/api/model-status", responses((status = 200, description = "models per task")), security(("bearer" = [])))]
pub async fn model_status(State(st): State<AppState>, _: Can<FetchModel>) -> ApiResult<Json<serde_json::Value>> {
    let production = registry::production(&st.db, &st.objects).await?;
    let mut models: Vec<serde_json::Value> = Vec::new();
    for task in Task::ALL.iter().copied() {
        let registered = production.iter().find(|(v, _)| v.task == task);
        if let Some((v, files)) = registered {
            models.push(registry::production_entry(v, files));
        } else if let Some(m) = served_by_this_process(&st, task) {
            models.push(m);
        }
    }
    Ok(Json(json!({ "models": models })))
}
