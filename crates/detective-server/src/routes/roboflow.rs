//! Roboflow under `/api/integrations/roboflow/`: the settings (admins; the key
//! is never given back, only masked), a key check, the project's versions,
//! push and pull as background jobs (202 with the job; progress, result and
//! cancel under `jobs/`). The use cases are `detective_ops::roboflow`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use detective_ops::roboflow::settings::{PutSettings, Shown};
use detective_ops::roboflow::{self, JobEnv, PullRequest, PushRequest, VersionInfo};
use detective_store::integration_jobs::IntegrationJob;
use serde_json::{Value, json};

use crate::auth::{Admin, Can, ManageData, Read};
use crate::problem::{ApiJson, ApiPath, ApiResult};
use crate::state::AppState;

fn env(st: &AppState) -> JobEnv {
    JobEnv {
        db: st.db.clone(),
        objects: st.objects.clone(),
        limits: st.settings.limits,
        base_url: st.settings.roboflow_url.clone(),
        work_dir: st.settings.work_dir.clone(),
        max_download: 4 * st.settings.max_body_bytes as u64,
    }
}

#[utoipa::path(get, path = "/api/integrations/roboflow/settings",
    responses((status = 200, body = Shown, description = "the key only masked")), security(("bearer" = [])))]
pub async fn get_settings(State(st): State<AppState>, _: Can<Admin>) -> ApiResult<Json<Shown>> {
    Ok(Json(roboflow::settings::get(&st.db).await?.shown()))
}

#[utoipa::path(put, path = "/api/integrations/roboflow/settings", request_body = PutSettings,
    responses((status = 200, body = Shown), (status = 400, description = "a bad workspace, project or key; nothing changed")),
    security(("bearer" = [])))]
pub async fn put_settings(
    State(st): State<AppState>,
    caller: Can<Admin>,
    ApiJson(body): ApiJson<PutSettings>,
) -> ApiResult<Json<Shown>> {
    let key_changed = body.api_key.is_some();
    let s = roboflow::settings::put(&st.db, body).await?;
    tracing::info!(workspace = %s.workspace, project = %s.project, key_changed, by = %caller.key_name, "Roboflow settings changed");
    Ok(Json(s.shown()))
}

#[utoipa::path(post, path = "/api/integrations/roboflow/check",
    responses((status = 200, description = "{workspace}: the key works"), (status = 400, description = "Roboflow refused the key"),
        (status = 502, description = "Roboflow failed or could not be reached")),
    security(("bearer" = [])))]
pub async fn check(State(st): State<AppState>, _: Can<Admin>) -> ApiResult<Json<Value>> {
    let workspace = roboflow::client(&st.db, &st.settings.roboflow_url)
        .await?
        .check_key()
        .await?;
    Ok(Json(json!({ "workspace": workspace })))
}

#[utoipa::path(get, path = "/api/integrations/roboflow/versions",
    responses((status = 200, body = Vec<VersionInfo>, description = "newest first")), security(("bearer" = [])))]
pub async fn versions(State(st): State<AppState>, _: Can<Read>) -> ApiResult<Json<Vec<VersionInfo>>> {
    Ok(Json(roboflow::versions(&st.db, &st.settings.roboflow_url).await?))
}

#[utoipa::path(post, path = "/api/integrations/roboflow/push", request_body = PushRequest,
    responses((status = 202, description = "the queued job")), security(("bearer" = [])))]
pub async fn push(
    State(st): State<AppState>,
    caller: Can<ManageData>,
    ApiJson(body): ApiJson<PushRequest>,
) -> ApiResult<(StatusCode, Json<IntegrationJob>)> {
    let job = roboflow::start_push(&st.db, &body, &caller.key_name).await?;
    tokio::spawn(roboflow::run(env(&st), job.id));
    Ok((StatusCode::ACCEPTED, Json(job)))
}

#[utoipa::path(post, path = "/api/integrations/roboflow/pull", request_body = PullRequest,
    responses((status = 202, description = "the queued job")), security(("bearer" = [])))]
pub async fn pull(
    State(st): State<AppState>,
    caller: Can<ManageData>,
    ApiJson(body): ApiJson<PullRequest>,
) -> ApiResult<(StatusCode, Json<IntegrationJob>)> {
    let job = roboflow::start_pull(&st.db, &body, &caller.key_name).await?;
    tokio::spawn(roboflow::run(env(&st), job.id));
    Ok((StatusCode::ACCEPTED, Json(job)))
}

#[utoipa::path(get, path = "/api/integrations/roboflow/jobs",
    responses((status = 200, description = "{items}: the newest 100 jobs")), security(("bearer" = [])))]
pub async fn jobs(State(st): State<AppState>, _: Can<Read>) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "items": roboflow::jobs(&st.db, 100).await?, "next": null }),
    ))
}

#[utoipa::path(get, path = "/api/integrations/roboflow/jobs/{id}", params(("id" = i64, Path, description = "job id")),
    responses((status = 200, description = "the job: status, done of total, message, result")), security(("bearer" = [])))]
pub async fn job(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<IntegrationJob>> {
    Ok(Json(roboflow::job(&st.db, id).await?))
}

#[utoipa::path(post, path = "/api/integrations/roboflow/jobs/{id}/cancel", params(("id" = i64, Path, description = "job id")),
    responses((status = 200, description = "cancel asked; the job stops at its next step"), (status = 409, description = "already ended")),
    security(("bearer" = [])))]
pub async fn cancel(
    State(st): State<AppState>,
    _: Can<ManageData>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<IntegrationJob>> {
    Ok(Json(roboflow::cancel(&st.db, id).await?))
}
