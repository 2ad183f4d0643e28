//! Alerts (`/api/alerts`): rules — `GET/POST /api/alerts/rules`, `PUT/DELETE
//! /api/alerts/rules/{id}` — each a condition (a defect rate above its p-chart
//! limit, a silent camera, a full edge spool, drift, a failed training job, a
//! promoted model) with its channels (webhooks, MQTT topics, the dashboard)
//! and a quiet period; `GET /api/alerts/events` lists what fired with each
//! delivery's status; `POST /api/alerts/evaluate` checks the conditions now.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use detective_core::alerts::RuleSpec;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use crate::auth::{Can, Operate, Read};
use crate::problem::{ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::state::AppState;

#[utoipa::path(get, path = "/api/alerts/rules", responses((status = 200, description = "{items: [rule]} (webhook secrets masked)")),
    security(("bearer" = [])))]
pub async fn rules(State(st): State<AppState>, _: Can<Read>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"items": detective_ops::alerts::list(&st.db).await?})))
}

#[utoipa::path(post, path = "/api/alerts/rules",
    request_body(content = String, description = "`{name, condition: {kind, …}, channels: [{type: webhook, url, secret} | {type: mqtt, topic} | {type: dashboard}], quiet_secs, enabled}`"),
    responses((status = 201, description = "the rule"), (status = 400, description = "a bad field; nothing stored")),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    caller: Can<Operate>,
    ApiJson(spec): ApiJson<RuleSpec>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let r = detective_ops::alerts::create(&st.db, &spec, &caller.key_name).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

#[utoipa::path(put, path = "/api/alerts/rules/{id}", params(("id" = i64, Path, description = "rule id")),
    request_body(content = String, description = "the whole rule, as for POST (a secret sent as ******** keeps the stored one)"),
    responses((status = 200, description = "the rule"), (status = 404, description = "no such rule")),
    security(("bearer" = [])))]
pub async fn update(
    State(st): State<AppState>,
    _: Can<Operate>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(spec): ApiJson<RuleSpec>,
) -> ApiResult<Json<Value>> {
    Ok(Json(detective_ops::alerts::update(&st.db, id, &spec).await?))
}

#[utoipa::path(delete, path = "/api/alerts/rules/{id}", params(("id" = i64, Path, description = "rule id")),
    responses((status = 204, description = "removed"), (status = 404, description = "no such rule")),
    security(("bearer" = [])))]
pub async fn delete(State(st): State<AppState>, _: Can<Operate>, ApiPath(id): ApiPath<i64>) -> ApiResult<StatusCode> {
    detective_ops::alerts::delete(&st.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Newest first, 1..=500 (default 50).
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/alerts/events", params(EventsQuery),
    responses((status = 200, description = "{items: [{id, rule_id, kind, key, title, detail, created_at, deliveries: [{channel, status, attempts, last_error}]}]}")),
    security(("bearer" = [])))]
pub async fn events(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> ApiResult<Json<Value>> {
    let items = detective_ops::alerts::events(&st.db, q.limit.unwrap_or(50)).await?;
    Ok(Json(json!({ "items": items })))
}

#[utoipa::path(post, path = "/api/alerts/evaluate",
    responses((status = 200, description = "{fired}: events fired by checking every periodic rule now")),
    security(("bearer" = [])))]
pub async fn evaluate(State(st): State<AppState>, _: Can<Operate>) -> ApiResult<Json<Value>> {
    let now = detective_store::clock::now_ms();
    let fired = detective_ops::alerts::evaluate::evaluate(&st.db, now).await?;
    Ok(Json(json!({ "fired": fired })))
}
