//! The labeling queue (DESIGN.md §5): `GET /api/labeling-queue?status=pending&order=oldest|margin&reason=`
//! lists queued predictions (uncertain, or sampled by the edge; each with its
//! reason) with the model's boxes as the starting
//! point, `POST /api/labeling-queue/{id}/label` stores a human's boxes (or
//! `defect_free`) with who and when, `POST /api/labeling-queue/{id}/skip` passes
//! on one; an item is decided once (409 for the second).

use axum::Json;
use axum::extract::State;
use detective_core::LabelStatus;
use detective_ops::labeling;
use detective_store::labeling::LabelBox;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use crate::auth::{Can, Operate, Read};
use crate::problem::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    /// `pending` (default), `labeled` or `skipped`.
    pub status: Option<String>,
    /// `oldest` (default) or `margin` (lowest margin first: the least certain).
    pub order: Option<String>,
    /// Only items queued for this reason: `uncertain`, `sampled` (any sampling
    /// strategy), `random`, `more_than` or `class`.
    pub reason: Option<String>,
    /// Page size, 1..=500 (default 50).
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/labeling-queue", params(QueueQuery),
    responses((status = 200, description = "{items, next, pending, done, classes}")), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiQuery(q): ApiQuery<QueueQuery>,
) -> ApiResult<Json<Value>> {
    let status: LabelStatus = q.status.as_deref().unwrap_or("pending").parse()?;
    let order = labeling::order_of(q.order.as_deref())?;
    let reason = labeling::reason_of(q.reason.as_deref())?;
    let page = labeling::page(
        &st.db,
        status,
        reason,
        order,
        q.cursor.as_deref(),
        q.limit.unwrap_or(50),
    )
    .await?;
    // The class names labelers pick from: the served detector's.
    let classes = st.served.pool().map(|p| p.model().names.clone()).unwrap_or_default();
    let mut body = serde_json::to_value(page).map_err(|e| ApiError::internal(e.to_string()))?;
    body["classes"] = json!(classes);
    Ok(Json(body))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelRequest {
    /// Boxes `{class, name?, bbox: [x1, y1, x2, y2]}` in frame pixels.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub boxes: Vec<LabelBox>,
    /// The frame shows no defect (then no boxes).
    #[serde(default)]
    pub defect_free: bool,
}

#[utoipa::path(post, path = "/api/labeling-queue/{id}/label", params(("id" = i64, Path, description = "queue item")),
    request_body = LabelRequest,
    responses((status = 200, description = "the stored label"), (status = 409, description = "already labelled or skipped")),
    security(("bearer" = [])))]
pub async fn label(
    State(st): State<AppState>,
    caller: Can<Operate>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<LabelRequest>,
) -> ApiResult<Json<Value>> {
    let stored = labeling::label(&st.db, id, &req.boxes, req.defect_free, &caller.key_name).await?;
    Ok(Json(stored))
}

#[utoipa::path(post, path = "/api/labeling-queue/{id}/skip", params(("id" = i64, Path, description = "queue item")),
    responses((status = 200, description = "skipped"), (status = 409, description = "already decided")),
    security(("bearer" = [])))]
pub async fn skip(State(st): State<AppState>, _: Can<Operate>, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Value>> {
    let status = labeling::skip(&st.db, id).await?;
    Ok(Json(json!({"id": id, "status": status})))
}
