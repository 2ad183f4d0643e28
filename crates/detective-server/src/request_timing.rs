//! The middleware that times every request under its matched route
//! (`detective_http_request_duration_seconds`, [`crate::metrics`]).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// Middleware: times every request under its matched route.
pub async fn time_requests(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    st.metrics
        .http
        .observe(&[&route, &method], started.elapsed().as_secs_f64());
    response
}
