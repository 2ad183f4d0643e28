//! User accounts over HTTP: admins create, list, disable and enable accounts and
//! set their passwords; a user signed in with a password changes their own.
//! Passwords are never sent back, and a new one ends the account's sessions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use detective_core::Role;
use detective_ops::accounts;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::{Admin, Can, Read};
use crate::problem::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// 1..64 letters, digits, `.`, `_`, `@` or `-` (kept lower case).
    pub username: String,
    /// admin, operator or viewer.
    pub role: String,
    /// At least 10 characters.
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    /// At least 10 characters.
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeOwnPassword {
    pub current: String,
    /// At least 10 characters.
    pub new: String,
}

/// Creates an account.
#[utoipa::path(post, path = "/api/users", request_body = CreateUser,
    responses((status = 200, description = "{user}"), (status = 409, description = "the name is taken")),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    _: Can<Admin>,
    ApiJson(req): ApiJson<CreateUser>,
) -> ApiResult<Json<serde_json::Value>> {
    let role: Role = req.role.parse().map_err(ApiError::bad_request)?;
    let user = accounts::create(&st.db, &req.username, role, &req.password).await?;
    Ok(Json(json!({ "user": user })))
}

/// Lists accounts (never their passwords).
#[utoipa::path(get, path = "/api/users", responses((status = 200, description = "{items, next}")), security(("bearer" = [])))]
pub async fn list(State(st): State<AppState>, _: Can<Admin>) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(json!({ "items": accounts::list(&st.db).await?, "next": null })))
}

/// Sets an account's password; its sessions end.
#[utoipa::path(post, path = "/api/users/{id}/password", params(("id" = String, Path, description = "user id or name")), request_body = SetPassword,
    responses((status = 200, description = "{user}")), security(("bearer" = [])))]
pub async fn set_password(
    State(st): State<AppState>,
    _: Can<Admin>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<SetPassword>,
) -> ApiResult<Json<serde_json::Value>> {
    let user = accounts::set_password(&st.db, &id, &req.password).await?;
    Ok(Json(json!({ "user": user })))
}

/// Disables an account: it cannot sign in, and its sessions end.
#[utoipa::path(post, path = "/api/users/{id}/disable", params(("id" = String, Path, description = "user id or name")), responses((status = 200, description = "{user}")), security(("bearer" = [])))]
pub async fn disable(
    State(st): State<AppState>,
    _: Can<Admin>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let user = accounts::set_disabled(&st.db, &id, true).await?;
    Ok(Json(json!({ "user": user })))
}

/// Enables a disabled account again.
#[utoipa::path(post, path = "/api/users/{id}/enable", params(("id" = String, Path, description = "user id or name")), responses((status = 200, description = "{user}")), security(("bearer" = [])))]
pub async fn enable(
    State(st): State<AppState>,
    _: Can<Admin>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let user = accounts::set_disabled(&st.db, &id, false).await?;
    Ok(Json(json!({ "user": user })))
}

/// Changes the signed-in user's own password (the current one is checked,
/// failures counted by the sign-in limiter); every session of the account ends,
/// this one included: the user signs in again with the new password.
#[utoipa::path(post, path = "/api/account/password", request_body = ChangeOwnPassword,
    responses((status = 200, description = "{user}"), (status = 400, description = "a key's caller, or the current password is not right")),
    security(("bearer" = [])))]
pub async fn change_own(
    State(st): State<AppState>,
    caller: Can<Read>,
    ApiJson(req): ApiJson<ChangeOwnPassword>,
) -> ApiResult<Json<serde_json::Value>> {
    let Some(id) = caller.user_id.as_deref() else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "only a user signed in with a password has one to change (this caller is an API key)",
        ));
    };
    // Guesses at the current password count against the account, as sign-ins do.
    let account = [crate::auth_limit::user_subject(&caller.key_name)];
    crate::auth_limit::refuse_if_limited(&st, &account).await?;
    match accounts::change_own_password(&st.db, id, &req.current, &req.new).await? {
        Some(user) => Ok(Json(json!({ "user": user }))),
        None => {
            crate::auth_limit::failed(&st, &account).await;
            Err(ApiError::bad_request("the current password is not right"))
        }
    }
}
