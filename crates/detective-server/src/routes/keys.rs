//! API keys over HTTP (admin only): create (the secret is in this one answer),
//! list, revoke.

use axum::Json;
use axum::extract::State;
use detective_core::Role;
use detective_ops::keys;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::{Admin, Can};
use crate::problem::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    /// admin, operator, device or viewer.
    pub role: String,
}

/// Creates a key; `key` in the answer is shown only this once.
#[utoipa::path(post, path = "/api/keys", request_body = CreateKey, responses((status = 200, description = "the key and its secret")), security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    _: Can<Admin>,
    ApiJson(req): ApiJson<CreateKey>,
) -> ApiResult<Json<serde_json::Value>> {
    let role: Role = req.role.parse().map_err(ApiError::bad_request)?;
    let (key, secret) = keys::create(&st.db, &req.name, role).await?;
    Ok(Json(json!({ "key": secret, "api_key": key })))
}

/// Lists keys (never their secrets).
#[utoipa::path(get, path = "/api/keys", responses((status = 200, description = "{items, next}")), security(("bearer" = [])))]
pub async fn list(State(st): State<AppState>, _: Can<Admin>) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(json!({ "items": keys::list(&st.db).await?, "next": null })))
}

/// Revokes a key at once.
#[utoipa::path(post, path = "/api/keys/{id}/revoke", params(("id" = String, Path, description = "key id")), responses((status = 200, description = "revoked")), security(("bearer" = [])))]
pub async fn revoke(
    State(st): State<AppState>,
    _: Can<Admin>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<serde_json::Value>> {
    keys::revoke(&st.db, &id).await?;
    Ok(Json(json!({ "revoked": id })))
}
