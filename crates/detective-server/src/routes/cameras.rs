//! `GET/PUT /api/cameras/{camera}/sampling`: the camera's sampling strategies —
//! a random share of all frames, frames with more than K detections, frames
//! with a detection of chosen classes, each at most `per_hour` frames per clock
//! hour. The edge agent receives them over `GET /api/edge/config` and sends the
//! frames it picks to the labeling queue with the reason.

use axum::Json;
use axum::extract::State;
use detective_core::sampling::Sampling;

use crate::auth::{Can, Operate, Read};
use crate::problem::{ApiJson, ApiPath, ApiResult};
use crate::state::AppState;

#[utoipa::path(get, path = "/api/cameras/{camera}/sampling", params(("camera" = String, Path, description = "camera id")),
    responses((status = 200, description = "`{random_percent, more_than, classes, per_hour}` (all off when never set)")),
    security(("bearer" = [])))]
pub async fn get_sampling(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiPath(camera): ApiPath<String>,
) -> ApiResult<Json<Sampling>> {
    Ok(Json(detective_ops::sampling::get(&st.db, &camera).await?))
}

#[utoipa::path(put, path = "/api/cameras/{camera}/sampling", params(("camera" = String, Path, description = "camera id")),
    request_body(content = String, description = "`{random_percent: 0..=100, more_than: K | null, classes: [name], per_hour: 1..=3600}`"),
    responses((status = 200, description = "the stored strategies"), (status = 400, description = "a number out of range or a bad name; nothing changed")),
    security(("bearer" = [])))]
pub async fn put_sampling(
    State(st): State<AppState>,
    _: Can<Operate>,
    ApiPath(camera): ApiPath<String>,
    ApiJson(s): ApiJson<Sampling>,
) -> ApiResult<Json<Sampling>> {
    detective_ops::sampling::set(&st.db, &camera, &s).await?;
    Ok(Json(s))
}
