//! `GET /api/edge/config?camera=ID&task=detect&model=SPEC&follow=true`: the one
//! channel from the cloud to an edge agent. It answers, for the agent's camera,
//! the Production model of the task (with its files and checksums, or null) and
//! the inspection rules in effect on that camera for the model the agent will
//! run: the Production model when it follows the registry (`follow=true`) and
//! there is one, else the `model` it runs; plus a `revision` that changes
//! whenever any of it does. The camera's sampling strategies ride on the same
//! answer (`sampling`; agents that predate them ignore the field). Agents that
//! predate the channel keep polling `GET /api/model-status`, which is unchanged.

use axum::Json;
use axum::extract::State;
use detective_core::{Scope, Task};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use utoipa::IntoParams;

use crate::auth::{Can, FetchModel};
use crate::problem::{ApiError, ApiQuery, ApiResult};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EdgeQuery {
    /// The agent's camera id.
    pub camera: String,
    /// `detect` (default) or `segment`: the task whose Production model to run.
    pub task: Option<String>,
    /// The model the agent runs now (`name@3`, or a file's name).
    pub model: Option<String>,
    /// The agent switches to the Production model (`--model production`).
    pub follow: Option<bool>,
}

#[utoipa::path(get, path = "/api/edge/config", params(EdgeQuery),
    responses((status = 200, description = "`{camera, task, model: {name, version, files, checksums, …} | null, rules, sampling, revision}`")),
    security(("bearer" = [])))]
pub async fn config(
    State(st): State<AppState>,
    _: Can<FetchModel>,
    ApiQuery(q): ApiQuery<EdgeQuery>,
) -> ApiResult<Json<EdgeConfig>> {
    detective_core::names::check_segment("camera", &q.camera).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let task: Task = q.task.as_deref().unwrap_or("detect").parse()?;
    if let Some(m) = &q.model {
        Scope::new(Some(m), None)
            .validate()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let production = detective_ops::registry::production(&st.db, &st.objects).await?;
    let model = production.iter().find(|(v, _)| v.task == task);
    let spec = rules_model(&q, model.map(|(v, _)| format!("{}@{}", v.name, v.version)));
    let mut answer = EdgeConfig {
        rules: st.rules(spec.as_deref(), Some(&q.camera)).await,
        sampling: detective_ops::sampling::get(&st.db, &q.camera).await?,
        model: model.map(|(v, files)| detective_ops::registry::production_entry(v, files)),
        camera: q.camera,
        task,
        revision: String::new(),
    };
    let text = serde_json::to_string(&answer).map_err(|e| ApiError::internal(e.to_string()))?;
    answer.revision = hex::encode(&sha2::Sha256::digest(text.as_bytes())[..8]);
    Ok(Json(answer))
}

/// The model whose rules the agent gets: the one it runs, unless it follows
/// the registry and there is a Production model.
fn rules_model(q: &EdgeQuery, production: Option<String>) -> Option<String> {
    match (q.follow.unwrap_or(false), &q.model) {
        (false, Some(m)) => Some(m.clone()),
        _ => production.or(q.model.clone()),
    }
}

/// The answer; `revision` is a hash of the rest.
#[derive(Debug, Serialize)]
pub struct EdgeConfig {
    camera: String,
    task: Task,
    model: Option<serde_json::Value>,
    rules: detective_core::Rules,
    sampling: detective_core::sampling::Sampling,
    revision: String,
}
