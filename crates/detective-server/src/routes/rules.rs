//! Inspection rules per model version and camera (see `detective_core::rules`):
//! `GET /api/rules` lists every scope's set, `PUT /api/rules` sets one
//! (operators), `DELETE /api/rules?model=&camera=` removes one, and `GET
//! /api/rules/effective?model=&camera=` shows what is in effect for a model on a
//! camera. Edge agents receive theirs with their model through
//! `GET /api/edge/config` (`routes::edge`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use detective_core::{RuleSet, Rules, Scope};
use detective_store::shared_events::SharedEvent;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Can, Operate, Read};
use crate::problem::{ApiJson, ApiQuery, ApiResult};
use crate::state::AppState;

/// `PUT /api/rules`: the scope and the set it gets (replacing what it had).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutRules {
    /// A model version as predictions name it (`name@3`); absent: every model.
    pub model: Option<String>,
    /// A camera id; absent: every camera.
    pub camera: Option<String>,
    /// `{"conf"?, "uncertain_low"?, "uncertain_high"?, "classes"?: {NAME: {"conf"?,
    /// "uncertain_low"?, "uncertain_high"?}}, "zones"?: [{"name", "kind": "ignore"|"inspect",
    /// "points": [[x, y], …] as fractions of the frame}]}`
    #[schema(value_type = Object)]
    pub rules: RuleSet,
}

/// A scope in the query: `?model=name@3&camera=cam1`, either or both.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ScopeQuery {
    pub model: Option<String>,
    pub camera: Option<String>,
}

impl ScopeQuery {
    fn scope(&self) -> Scope {
        Scope::new(self.model.as_deref(), self.camera.as_deref())
    }
}

#[utoipa::path(get, path = "/api/rules", responses((status = 200, description = "every scope's rule set")),
    security(("bearer" = [])))]
pub async fn list(State(st): State<AppState>, _: Can<Read>) -> ApiResult<Json<Listed>> {
    let items = detective_ops::rules::list(&st.db).await?;
    Ok(Json(Listed { items, next: None }))
}

/// Every stored set, as one page (numbers as they were stored, not widened).
#[derive(Debug, Serialize)]
pub struct Listed {
    items: Vec<detective_store::rules::StoredRules>,
    next: Option<String>,
}

#[utoipa::path(put, path = "/api/rules", request_body = PutRules,
    responses((status = 200, description = "stored; `effective`: the rules now in effect for the scope"),
              (status = 400, description = "a number out of range, an unknown class, a bad zone; nothing changed")),
    security(("bearer" = [])))]
pub async fn put(
    State(st): State<AppState>,
    caller: Can<Operate>,
    ApiJson(body): ApiJson<PutRules>,
) -> ApiResult<Json<Stored>> {
    let scope = Scope::new(body.model.as_deref(), body.camera.as_deref());
    let defaults = st.default_rules().await;
    let effective = detective_ops::rules::put(&st.db, &defaults, &scope, &body.rules, &caller.key_name).await?;
    st.announce(SharedEvent::Settings { what: "rules".into() }).await;
    tracing::info!(
        "inspection rules for model {:?} on camera {:?} set by {}",
        scope.model,
        scope.camera,
        caller.key_name
    );
    Ok(Json(Stored {
        scope,
        rules: body.rules,
        effective,
    }))
}

/// The answer of `PUT /api/rules`: what was stored and what is now in effect.
#[derive(Debug, Serialize)]
pub struct Stored {
    scope: Scope,
    rules: RuleSet,
    effective: Rules,
}

#[utoipa::path(delete, path = "/api/rules", params(ScopeQuery),
    responses((status = 204, description = "removed"), (status = 404, description = "the scope had no rules")),
    security(("bearer" = [])))]
pub async fn delete(
    State(st): State<AppState>,
    _: Can<Operate>,
    ApiQuery(q): ApiQuery<ScopeQuery>,
) -> ApiResult<StatusCode> {
    detective_ops::rules::delete(&st.db, &q.scope()).await?;
    st.announce(SharedEvent::Settings { what: "rules".into() }).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/rules/effective", params(ScopeQuery),
    responses((status = 200, description = "the rules in effect for the model on the camera")),
    security(("bearer" = [])))]
pub async fn effective(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiQuery(q): ApiQuery<ScopeQuery>,
) -> ApiResult<Json<Rules>> {
    let scope = q.scope();
    scope
        .validate()
        .map_err(|e| crate::problem::ApiError::bad_request(e.to_string()))?;
    Ok(Json(st.rules(scope.model.as_deref(), scope.camera.as_deref()).await))
}
