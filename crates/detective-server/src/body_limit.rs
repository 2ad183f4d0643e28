//! Refuses a request whose `Content-Length` announces more than the largest
//! body any route accepts, from its headers: a 413 problem at once, without
//! reading (or waiting for) a byte of a 2 GB upload. Bodies without a length
//! (chunked) are still cut by each route's own limit as they stream.

use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::problem::ApiError;
use crate::state::AppState;

pub async fn refuse_announced_oversize(State(st): State<AppState>, req: Request, next: Next) -> Response {
    // the limits of lib.rs's routes: uploads and logs, and a predicted image
    let max = (st.settings.max_body_bytes as u64).max(st.settings.limits.max_bytes + 64 * 1024);
    let announced = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match announced {
        Some(n) if n > max => ApiError::too_large(format!(
            "the request announces a body of {n} bytes; at most {max} are accepted"
        ))
        .with(json!({ "limit": max }))
        .into_response(),
        _ => next.run(req).await,
    }
}
