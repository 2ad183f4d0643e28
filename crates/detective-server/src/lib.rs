//! The cloud tier of Defect Detective: the axum application behind
//! `detective serve` — REST API under `/api` (DESIGN.md §5), API-key auth with
//! roles, problem+json errors, OpenAPI document, Prometheus metrics — and the
//! dashboard pages (`dashboard`).

pub mod audit;
pub mod audit_caller;
pub mod auth;
pub mod auth_limit;
pub mod body_limit;
pub mod charts;
pub mod client_addr;
pub mod dashboard;
pub mod metrics;
pub mod model_cache;
pub mod openapi;
pub mod predictor;
pub mod problem;
pub mod production_follower;
pub mod prometheus;
pub mod request_timing;
pub mod routes;
pub mod security_headers;
pub mod served_model;
pub mod session;
pub mod shared_events;
pub mod state;
pub mod thresholds;
pub mod tls;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

pub use predictor::PredictorPool;
pub use problem::ApiError;
pub use production_follower::{follow_production, follow_segment_production};
pub use state::{AppState, ServerSettings};

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route {}", uri.path()))
}

async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(openapi::document())
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let big = DefaultBodyLimit::max(state.settings.max_body_bytes);
    let image = DefaultBodyLimit::max(state.settings.limits.max_bytes as usize + 64 * 1024);
    let json = DefaultBodyLimit::max(16 * 1024 * 1024);
    use routes::*;
    Router::new()
        .route("/api/health", get(status::health))
        .route("/api/audit", get(audit::list))
        .route("/api/metrics", get(status::metrics))
        .route("/metrics", get(status::prometheus))
        .route("/api/model-status", get(status::model_status))
        .route("/api/models", get(models::list))
        .route("/api/models/{name}/versions", get(models::versions))
        .route("/api/models/{name}/versions/{version}/files/{file}", get(models::file))
        .route("/api/models/register", post(models::register).layer(big))
        .route(
            "/api/models/{name}/versions/{version}/stage",
            post(models::stage).layer(json),
        )
        .route("/api/models/{name}/rollback", post(models::rollback))
        .route("/api/models/compare", get(models::compare))
        .route("/api/training", get(training::list))
        .route("/api/metrics/drift", get(retraining::drift))
        .route("/api/metrics/drift/charts/{chart}", get(retraining::drift_chart))
        .route("/api/retraining/conditions", get(retraining::conditions))
        .route("/api/retraining/trigger", post(retraining::trigger))
        .route("/api/retraining/events", get(retraining::events))
        .route(
            "/api/retraining/policy",
            get(retraining::get_policy).put(retraining::put_policy).layer(json),
        )
        .route("/api/training/start", post(training::start).layer(json))
        .route("/api/training/{id}", get(training::get))
        .route("/api/training/{id}/stop", post(training::stop))
        .route("/api/training/{id}/events", get(training::events))
        .route("/api/training/{id}/charts/{chart}", get(training::chart))
        .route("/api/log", post(log::log).layer(big))
        .route("/api/inspection-logs", get(inspections::list))
        .route("/api/inspection-logs/events", get(inspections::events))
        .route("/api/inspection-logs/{id}", get(inspections::one))
        .route("/api/inspection-logs/{id}/frame", get(inspections::frame))
        .route("/api/inference/predict", post(predict::predict).layer(image))
        .route("/api/stream", get(stream::stream))
        .route("/api/images/upload", post(images::upload).layer(big))
        .route("/api/images", get(images::list))
        .route("/api/images/{id}/file", get(images::file))
        .route(
            "/api/images/{id}/mask",
            get(images::mask)
                .put(images::put_mask)
                .delete(images::delete_mask)
                .layer(image),
        )
        .route(
            "/api/images/{id}/labels",
            get(annotations::get).put(annotations::put).layer(json),
        )
        .route("/api/images/{id}/labels/revisions", get(annotations::revisions))
        .route("/api/images/{id}/labels/brush", get(annotations::brush))
        .route("/api/images/{id}/prelabel", post(annotations::prelabel))
        .route(
            "/api/projects/{project}/classes",
            get(annotations::classes).put(annotations::put_classes).layer(json),
        )
        .route(
            "/api/integrations/roboflow/settings",
            get(roboflow::get_settings).put(roboflow::put_settings).layer(json),
        )
        .route("/api/integrations/roboflow/check", post(roboflow::check))
        .route("/api/integrations/roboflow/versions", get(roboflow::versions))
        .route("/api/integrations/roboflow/push", post(roboflow::push).layer(json))
        .route("/api/integrations/roboflow/pull", post(roboflow::pull).layer(json))
        .route("/api/integrations/roboflow/jobs", get(roboflow::jobs))
        .route("/api/integrations/roboflow/jobs/{id}", get(roboflow::job))
        .route("/api/integrations/roboflow/jobs/{id}/cancel", post(roboflow::cancel))
        .route("/api/datasets/create", post(datasets::create).layer(json))
        .route("/api/datasets/seed", post(datasets::seed).layer(json))
        .route("/api/datasets/import", post(datasets::import).layer(big))
        .route("/api/datasets", get(datasets::list))
        .route("/api/datasets/{id}", get(datasets::get))
        .route("/api/datasets/{id}/versions", post(datasets::add_version).layer(json))
        .route("/api/datasets/{id}/export", get(datasets::export))
        .route("/api/keys", get(keys::list).post(keys::create))
        .route("/api/keys/{id}/revoke", post(keys::revoke))
        .route("/api/users", get(users::list).post(users::create).layer(json))
        .route("/api/users/{id}/password", post(users::set_password).layer(json))
        .route("/api/users/{id}/disable", post(users::disable))
        .route("/api/users/{id}/enable", post(users::enable))
        .route("/api/account/password", post(users::change_own).layer(json))
        .route("/api/analytics/summary", get(analytics::summary))
        .route("/api/analytics/charts/{chart}", get(analytics::chart))
        .route("/api/analytics/misses", get(analytics::misses))
        .route("/api/analytics/insights", get(analytics::insights))
        .route(
            "/api/analytics/insights/feedback",
            get(analytics::feedback).post(analytics::mark_wrong).layer(json),
        )
        .route("/api/alerts/rules", get(alerts::rules).post(alerts::create).layer(json))
        .route(
            "/api/alerts/rules/{id}",
            axum::routing::put(alerts::update).delete(alerts::delete).layer(json),
        )
        .route("/api/alerts/events", get(alerts::events))
        .route("/api/alerts/evaluate", post(alerts::evaluate))
        .route("/api/devices", get(segmentation::devices))
        .route("/api/segmentation/runs", get(segmentation::runs))
        .route("/api/segmentation/runs/{run}/samples", get(segmentation::samples))
        .route("/api/segmentation/compare", post(segmentation::compare).layer(json))
        .route(
            "/api/settings/thresholds",
            get(settings::get_thresholds).put(settings::put_thresholds).layer(json),
        )
        .route(
            "/api/rules",
            get(rules::list).put(rules::put).delete(rules::delete).layer(json),
        )
        .route("/api/rules/effective", get(rules::effective))
        .route("/api/edge/config", get(edge::config))
        .route(
            "/api/cameras/{camera}/sampling",
            get(cameras::get_sampling).put(cameras::put_sampling).layer(json),
        )
        .route("/api/labeling-queue", get(labeling::list))
        .route("/api/labeling-queue/{id}/label", post(labeling::label).layer(json))
        .route("/api/labeling-queue/{id}/skip", post(labeling::skip))
        .route("/api/openapi.json", get(openapi_json))
        .merge(dashboard::routes())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), audit::record))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_timing::time_requests,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this route")
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body_limit::refuse_announced_oversize,
        ))
        .layer(axum::middleware::map_response(security_headers::add))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves `state` on `addr` (HTTPS with `tls`) until `shutdown` resolves;
/// returns the bound address through `on_bound` first (useful with port 0).
pub async fn serve(
    state: AppState,
    addr: SocketAddr,
    tls: Option<tls::TlsAcceptor>,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    on_bound(listener.local_addr()?);
    let events = tokio::spawn(shared_events::listen(state.clone()));
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = match tls {
        None => axum::serve(listener, app).with_graceful_shutdown(shutdown).await,
        Some(acceptor) => {
            // `tap_io` gives the listener axum's connect-info for its peer address.
            let listener = tls::TlsListener::new(listener, acceptor)?.tap_io(|_| {});
            axum::serve(listener, app).with_graceful_shutdown(shutdown).await
        }
    };
    events.abort();
    served
}
