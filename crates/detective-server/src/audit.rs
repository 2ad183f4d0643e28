//! The audit trail of changes: a middleware records every successful request
//! that is not a read (any method but GET, HEAD and OPTIONS) made by an operator or
//! an admin — who (the key's or session's name and role), which route, which path,
//! the status, from which address — except the traffic of cameras and predictions
//! ([`NOT_AUDITED`]). The caller is the one the route's own key check found: the
//! check leaves it in a task-local slot ([`crate::audit_caller`]) that the middleware reads
//! after the handler, so no key is looked up twice. `GET /api/audit` (admins) lists
//! the trail, as JSON or CSV.

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use detective_core::Role;
use serde::Deserialize;

use crate::audit_caller::with_slot;
use crate::auth::{Admin, Can};
use crate::problem::{ApiQuery, ApiResult};
use crate::state::AppState;

/// Routes whose writes are traffic, not changes: not audited.
pub const NOT_AUDITED: &[&str] = &["/api/log", "/api/inference/predict", "/api/stream", "/login", "/logout"];

/// Middleware: runs the request with a slot for its caller and records the change.
pub async fn record(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let Some(route) = route.filter(|r| !NOT_AUDITED.contains(&r.as_str())) else {
        return next.run(req).await;
    };
    let target = req.uri().path().to_string();
    let (parts, body) = req.into_parts();
    let client = crate::client_addr::client_of(&parts, &st.settings.trusted_proxies);
    let req = Request::from_parts(parts, body);
    let (response, actor) = with_slot(next.run(req)).await;
    let status = response.status();
    if let Some(c) = actor.filter(|c| matches!(c.role, Role::Operator | Role::Admin))
        && status.as_u16() < 400
    {
        let entry = detective_store::audit_log::NewEntry {
            actor: c.name,
            role: c.role.to_string(),
            action: format!("{method} {route}"),
            target,
            status: status.as_u16(),
            client,
        };
        if let Err(e) = detective_store::audit_log::insert(&st.db, &entry).await {
            tracing::error!(
                "audit log: {e}; the change was {} {} by {}",
                entry.action,
                entry.target,
                entry.actor
            );
        }
    }
    response
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Only this actor's changes.
    pub actor: Option<String>,
    /// Entries older than this id (the next page).
    pub before: Option<i64>,
    /// At most this many (1..=1000, default 100).
    pub limit: Option<usize>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// The audit trail, newest first.
#[utoipa::path(get, path = "/api/audit", params(AuditQuery),
    responses((status = 200, description = "{entries: [{id, at, actor, role, action, target, status, client}]} or CSV")),
    security(("bearer" = [])))]
pub async fn list(State(st): State<AppState>, _: Can<Admin>, ApiQuery(q): ApiQuery<AuditQuery>) -> ApiResult<Response> {
    let entries =
        detective_store::audit_log::list(&st.db, q.actor.as_deref(), q.before, q.limit.unwrap_or(100)).await?;
    if q.format.as_deref() == Some("csv") {
        let mut csv = String::from("id,at,actor,role,action,target,status,client\n");
        for e in &entries {
            let cells = [
                e.id.to_string(),
                e.at.clone(),
                e.actor.clone(),
                e.role.clone(),
                e.action.clone(),
                e.target.clone(),
                e.status.to_string(),
                e.client.clone(),
            ];
            let row: Vec<String> = cells.iter().map(|c| detective_core::csv::cell(c)).collect();
            csv.push_str(&row.join(","));
            csv.push('\n');
        }
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"audit.csv\""),
            ],
            csv,
        )
            .into_response());
    }
    Ok(Json(serde_json::json!({ "entries": entries })).into_response())
}
