//! The Segmentation lab's API: the segmentation training runs under
//! `serve --segment-runs DIR` (`GET /api/segmentation/runs`), the validation
//! samples of a run's dataset (`GET /api/segmentation/runs/{run}/samples`), and
//! `POST /api/segmentation/compare`: one image (a sample, or uploaded) through one
//! or two epoch checkpoints of a run at a threshold — the probability heatmap, the
//! overlay, and Dice and IoU against the sample's ground-truth mask when it has one.
//! Runs on the device the request names (`GET /api/devices` lists this server's);
//! checkpoints are read from the run folder.

use axum::Json;
use axum::extract::State;
use detective_ops::segmentation_lab::{self, CompareRequest};
use serde_json::{Value, json};

use crate::auth::{Can, Predict, Read};
use crate::problem::{ApiJson, ApiPath, ApiResult};
use crate::state::AppState;

/// The devices the lab can run checkpoints on: the CPU and each GPU, with
/// whether this server can use it and why not (`{items, inference}`).
#[utoipa::path(get, path = "/api/devices", responses((status = 200, description = "{items: [{name, available, detail}], inference}")), security(("bearer" = [])))]
pub async fn devices(_: Can<Read>) -> ApiResult<Json<Value>> {
    Ok(Json(detective_ops::segmentation_lab::devices()))
}

/// Segmentation runs, newest first.
#[utoipa::path(get, path = "/api/segmentation/runs", responses((status = 200, description = "{items}")), security(("bearer" = [])))]
pub async fn runs(State(st): State<AppState>, _: Can<Read>) -> ApiResult<Json<Value>> {
    let items = segmentation_lab::runs(&st.settings.segment_runs).await?;
    Ok(Json(
        json!({"items": items, "root": st.settings.segment_runs.display().to_string()}),
    ))
}

/// The validation samples of a run's dataset (at most 200).
#[utoipa::path(get, path = "/api/segmentation/runs/{run}/samples", params(("run" = String, Path, description = "run name")),
    responses((status = 200, description = "{split, items: [{name, has_mask}]}"), (status = 404, description = "unknown run")),
    security(("bearer" = [])))]
pub async fn samples(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiPath(run): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let (split, items) = segmentation_lab::samples(&st.settings.segment_runs, &run).await?;
    Ok(Json(json!({"split": split, "items": items})))
}

/// An image through one or two checkpoints of a run.
#[utoipa::path(post, path = "/api/segmentation/compare", request_body = CompareRequest,
    responses((status = 200, description = "input, truth, and per epoch heatmap, overlay, Dice, IoU")),
    security(("bearer" = [])))]
pub async fn compare(
    State(st): State<AppState>,
    _: Can<Predict>,
    ApiJson(req): ApiJson<CompareRequest>,
) -> ApiResult<Json<Value>> {
    let out = segmentation_lab::compare(&st.settings.segment_runs, &st.settings.limits, req).await?;
    Ok(Json(out))
}
