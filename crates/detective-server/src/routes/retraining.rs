//! Drift and retraining (DESIGN.md §5): `GET /api/metrics/drift` (latest drift
//! report per feature, plus the drift_share history), `GET
//! /api/metrics/drift/charts/{chart}` (the share history or a feature's
//! histograms as SVG), `GET
//! /api/retraining/conditions`, `POST /api/retraining/trigger` (manual),
//! `GET /api/retraining/events`, and the run-time policy
//! `GET/PUT /api/retraining/policy`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use detective_ops::retraining::{self, Policy};
use detective_store::clock::now_ms;
use serde_json::{Value, json};

use crate::auth::{Can, Operate, Read};
use crate::charts;
use crate::problem::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::state::AppState;

/// Checks in the drift share history (of the API and of the chart).
const HISTORY: usize = 200;

async fn policy(st: &AppState) -> ApiResult<Policy> {
    Ok(retraining::policy(&st.db, &st.mlops.config.retraining).await?)
}

#[utoipa::path(get, path = "/api/metrics/drift",
    responses((status = 200, description = "{report: latest report (per feature: method, statistic, p_value, wasserstein_norm, psi, drifted, histograms) or null, history: [{created_at, drift_share, dataset_drift, min_p_value}], config}")),
    security(("bearer" = [])))]
pub async fn drift(State(st): State<AppState>, _: Can<Read>) -> ApiResult<Json<Value>> {
    let (report, history) = detective_ops::drift::reports(&st.db, HISTORY).await?;
    Ok(Json(
        json!({"report": report, "history": history, "config": st.mlops.config.drift}),
    ))
}

/// One drift chart as SVG: `share.svg` (the drift share of every check against
/// the threshold) or `{feature}.svg` (that feature's reference and current
/// histograms in the latest report).
#[utoipa::path(get, path = "/api/metrics/drift/charts/{chart}",
    params(("chart" = String, Path, description = "share.svg, or a feature's name and .svg (e.g. brightness.svg)")),
    responses((status = 200, description = "image/svg+xml"), (status = 404, description = "no such chart, or no report yet")),
    security(("bearer" = [])))]
pub async fn drift_chart(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiPath(chart): ApiPath<String>,
) -> ApiResult<Response> {
    // each chart reads only what it draws: the page asks for one per feature
    let svg = match chart.strip_suffix(".svg") {
        Some("share") => {
            let history = detective_ops::drift::history(&st.db, HISTORY).await?;
            Some(charts::drift::share_history(
                &history,
                st.mlops.config.drift.share_threshold,
            ))
        }
        Some(feature) => detective_ops::drift::latest(&st.db)
            .await?
            .and_then(|r| charts::drift::feature_histogram(&r.features, feature)),
        None => None,
    };
    let svg = svg.ok_or_else(|| {
        ApiError::not_found(format!(
            "no chart {chart:?} (share.svg, or a feature of the latest report as name.svg)"
        ))
    })?;
    Ok(charts::response(svg?))
}

#[utoipa::path(get, path = "/api/retraining/conditions",
    responses((status = 200, description = "{drift_detected, p_value, drift_share, new_labels, threshold_labels, should_retrain, reasons[], blocked[], auto_retrain, production}")),
    security(("bearer" = [])))]
pub async fn conditions(State(st): State<AppState>, _: Can<Read>) -> ApiResult<Json<Value>> {
    let p = policy(&st).await?;
    Ok(Json(retraining::conditions(&st.db, &p, now_ms()).await?))
}

#[utoipa::path(post, path = "/api/retraining/trigger",
    responses((status = 201, description = "the retraining event (dataset version built, job queued)"),
        (status = 409, description = "a retraining is already running"), (status = 400, description = "nothing to retrain from")),
    security(("bearer" = [])))]
pub async fn trigger(State(st): State<AppState>, caller: Can<Operate>) -> ApiResult<(StatusCode, Json<Value>)> {
    let p = policy(&st).await?;
    let reasons = vec![format!("manual trigger by {}", caller.key_name)];
    let e = retraining::trigger(&st.db, &st.objects, &p, "manual", reasons, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(serde_json::to_value(e).unwrap_or_default())))
}

#[utoipa::path(get, path = "/api/retraining/events",
    responses((status = 200, description = "{items: events newest first (reasons, dataset version, job, outcome, detail, model_version)}")),
    security(("bearer" = [])))]
pub async fn events(State(st): State<AppState>, _: Can<Read>) -> ApiResult<Json<Value>> {
    let items = retraining::events(&st.db, 100).await?;
    Ok(Json(json!({"items": items, "next": null})))
}

#[utoipa::path(get, path = "/api/retraining/policy",
    responses((status = 200, description = "{auto_retrain, threshold_labels, retrain_on_drift, cooldown_secs, epochs, auto_promote_production}")),
    security(("bearer" = [])))]
pub async fn get_policy(State(st): State<AppState>, _: Can<Read>) -> ApiResult<Json<Policy>> {
    Ok(Json(policy(&st).await?))
}

#[utoipa::path(put, path = "/api/retraining/policy", request_body(content = Object, description = "the whole policy"),
    responses((status = 200, description = "the stored policy"), (status = 400, description = "out of range")),
    security(("bearer" = [])))]
pub async fn put_policy(
    State(st): State<AppState>,
    caller: Can<Operate>,
    ApiJson(p): ApiJson<Policy>,
) -> ApiResult<Json<Policy>> {
    retraining::set_policy(&st.db, &p).await?;
    tracing::info!(by = %caller.key_name, ?p, "retraining policy changed");
    Ok(Json(p))
}
