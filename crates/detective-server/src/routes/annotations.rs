//! Annotating any image of a project: `GET`/`PUT /api/images/{id}/labels`
//! (boxes, polygons, a painted layer; each save a revision, refused with 409
//! when someone saved in between), `GET /api/images/{id}/labels/revisions`,
//! `GET /api/images/{id}/labels/brush` (the painted layer as PNG), `POST
//! /api/images/{id}/prelabel` (a registered model's boxes or mask for a person
//! to accept; nothing is stored), and the project's class list at
//! `GET`/`PUT /api/projects/{project}/classes`.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use detective_core::Task;
use detective_ops::annotations::classes::ClassSpec;
use detective_ops::annotations::{self, BrushOrigin, Labels, PutLabels, RevisionSummary, Source};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use crate::auth::{Can, ManageData, Operate, Read};
use crate::problem::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::state::AppState;

/// `?revision=N`: an older revision instead of the newest.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RevisionQuery {
    pub revision: Option<i64>,
}

#[utoipa::path(get, path = "/api/images/{id}/labels", params(("id" = i64, Path, description = "image id"), RevisionQuery),
    responses((status = 200, body = Labels), (status = 404, description = "unknown image or revision")),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<RevisionQuery>,
) -> ApiResult<Json<Labels>> {
    Ok(Json(annotations::get(&st.db, id, q.revision).await?))
}

#[utoipa::path(put, path = "/api/images/{id}/labels", params(("id" = i64, Path, description = "image id")),
    request_body = PutLabels,
    responses((status = 200, body = Labels, description = "saved as a new revision"),
        (status = 400, description = "a shape outside the image, an unknown class, a brush layer of another size; nothing saved"),
        (status = 409, description = "someone saved a newer revision meanwhile; nothing saved")),
    security(("bearer" = [])))]
pub async fn put(
    State(st): State<AppState>,
    caller: Can<Operate>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PutLabels>,
) -> ApiResult<Json<Labels>> {
    let saved = annotations::put(&st.db, &st.objects, &st.settings.limits, id, body, &caller.key_name).await?;
    tracing::info!(image = id, revision = ?saved.revision, by = %caller.key_name, "labels saved");
    Ok(Json(saved))
}

#[utoipa::path(get, path = "/api/images/{id}/labels/revisions", params(("id" = i64, Path, description = "image id")),
    responses((status = 200, body = Vec<RevisionSummary>, description = "newest first")), security(("bearer" = [])))]
pub async fn revisions(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<RevisionSummary>>> {
    Ok(Json(annotations::history(&st.db, id).await?))
}

#[utoipa::path(get, path = "/api/images/{id}/labels/brush", params(("id" = i64, Path, description = "image id"), RevisionQuery),
    responses((status = 200, content_type = "image/png", description = "the painted layer, 255 where painted"),
        (status = 404, description = "nothing painted")),
    security(("bearer" = [])))]
pub async fn brush(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<RevisionQuery>,
) -> ApiResult<Response> {
    let png = annotations::brush(&st.db, &st.objects, id, q.revision).await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// Which model pre-labels.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PrelabelQuery {
    /// `detect` (default: boxes) or `segment` (a painted layer).
    pub task: Option<String>,
    /// The model: the served one (default), or a registered version
    /// (`name@3`, `name@Production`) for detection.
    pub model: Option<String>,
    /// Confidence threshold for boxes (default 0.25), pixel threshold for masks
    /// (default the segmenter's).
    pub conf: Option<f32>,
}

#[utoipa::path(post, path = "/api/images/{id}/prelabel", params(("id" = i64, Path, description = "image id"), PrelabelQuery),
    responses((status = 200, description = "{model, boxes (source model, with confidence), unmapped (model classes the project lacks)} or, \
        for segment, {model, brush (PNG, base64), brush_origin, defect_pixels}; nothing is stored")),
    security(("bearer" = [])))]
pub async fn prelabel(
    State(st): State<AppState>,
    _: Can<Operate>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PrelabelQuery>,
) -> ApiResult<Json<Value>> {
    let task: Task = q.task.as_deref().unwrap_or("detect").parse()?;
    let img = detective_store::images::get(&st.db, id)
        .await
        .map_err(detective_ops::OpsError::from)?;
    let (_, bytes) = detective_ops::images::file(&st.db, &st.objects, id).await?;
    if task == Task::Segment {
        return prelabel_mask(&st, &q, bytes).await;
    }
    let classes: Vec<String> = detective_ops::annotations::classes::get(&st.db, &img.project)
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    prelabel_boxes(&st, &q, bytes, &classes).await
}

/// A detector's boxes on the image, mapped onto the project's classes by name.
async fn prelabel_boxes(
    st: &AppState,
    q: &PrelabelQuery,
    bytes: axum::body::Bytes,
    classes: &[String],
) -> ApiResult<Json<Value>> {
    let (pool, version) = super::predict::detector_for(st, q.model.as_deref()).await?;
    let conf = q.conf.unwrap_or(0.25);
    let opts = detective_ml::PredictOptions {
        conf,
        agnostic: true,
        ..detective_ml::PredictOptions::default()
    };
    opts.validate().map_err(|e| ApiError::bad_request(e.to_string()))?;
    let rules = st.default_rules().await.with_conf(conf);
    let found = super::predict::detect_on(&pool, bytes, st.settings.limits, (opts, rules), false).await??;
    let model = match version {
        Some(v) => format!("{}@{v}", pool.name),
        None => pool.name.clone(),
    };
    let proposal = detective_ops::annotations::shapes::propose(&found.pred.detections, classes, &model);
    Ok(Json(
        json!({"model": model, "boxes": proposal.boxes, "unmapped": proposal.unmapped}),
    ))
}

/// The served segmenter's mask of the image as a painted layer to accept.
async fn prelabel_mask(st: &AppState, q: &PrelabelQuery, bytes: axum::body::Bytes) -> ApiResult<Json<Value>> {
    let pool = super::predict::segmenter_for(st, q.model.as_deref())?;
    let threshold = q.conf.unwrap_or_else(|| pool.model().threshold());
    if !(threshold > 0.0 && threshold < 1.0) {
        return Err(ApiError::bad_request(
            "conf (the pixel threshold) must be within (0, 1)",
        ));
    }
    let found = super::predict::segment_on(
        &pool,
        bytes,
        st.settings.limits,
        threshold,
        st.default_rules().await,
        false,
    )
    .await??;
    let png = detective_vision::encode::encode_gray_png(&found.out.mask)
        .map_err(|e| ApiError::internal(format!("encoding the mask: {e}")))?;
    let origin = BrushOrigin {
        source: Source::Model,
        model: Some(pool.name.clone()),
        edited: false,
    };
    Ok(Json(json!({
        "model": pool.name,
        "brush": base64::engine::general_purpose::STANDARD.encode(png),
        "brush_origin": origin,
        "defect_pixels": found.out.defect_pixels,
    })))
}

#[utoipa::path(get, path = "/api/projects/{project}/classes", params(("project" = String, Path, description = "project")),
    responses((status = 200, description = "{project, classes: [{name, color, icon}], icons, counts: {unlabelled, labelled, reviewed}}")),
    security(("bearer" = [])))]
pub async fn classes(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiPath(project): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let classes = detective_ops::annotations::classes::get(&st.db, &project).await?;
    let counts = detective_store::annotations::status_counts(&st.db, &project)
        .await
        .map_err(detective_ops::OpsError::from)?;
    let mut by_status = json!({"unlabelled": 0, "labelled": 0, "reviewed": 0});
    for (status, n) in counts {
        by_status[status] = json!(n);
    }
    Ok(Json(json!({
        "project": project,
        "classes": classes,
        "icons": detective_ops::annotations::classes::ICONS,
        "counts": by_status,
    })))
}

/// `PUT /api/projects/{project}/classes`: the whole list, in index order.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutClasses {
    /// `[{name, color?: "#rrggbb", icon?}]`; missing colours and icons are given by position.
    #[schema(value_type = Vec<Object>)]
    pub classes: Vec<ClassSpec>,
}

#[utoipa::path(put, path = "/api/projects/{project}/classes", params(("project" = String, Path, description = "project")),
    request_body = PutClasses,
    responses((status = 200, description = "{project, classes}"), (status = 400, description = "a bad name, colour or icon"),
        (status = 409, description = "would remove classes that labelled images use")),
    security(("bearer" = [])))]
pub async fn put_classes(
    State(st): State<AppState>,
    _: Can<ManageData>,
    ApiPath(project): ApiPath<String>,
    ApiJson(body): ApiJson<PutClasses>,
) -> ApiResult<Json<Value>> {
    let classes = detective_ops::annotations::classes::put(&st.db, &project, &body.classes).await?;
    Ok(Json(json!({"project": project, "classes": classes})))
}
