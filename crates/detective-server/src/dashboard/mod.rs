//! The dashboard: server-rendered pages (askama templates under `templates/`)
//! with small ES modules (`static/`), all embedded in the binary and served by
//! `detective serve` itself. Pages fetch their live figures from the same JSON
//! API, authenticated by the session cookie that `POST /login` sets.

mod assets;
mod login;
mod pages;
mod user;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

pub use user::PageUser;

/// The dashboard's routes (DESIGN.md §5: `/`, `/live`, `/inspections`, `/analytics`, `/segmentation`, `/labeling`, `/annotate`, `/check`, `/training`, `/models`, `/datasets`,
/// `/health`, `/settings`, `GET/POST /login`), plus `/logout` and `/static/{file}`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/live", get(pages::live))
        .route("/inspections", get(pages::inspections))
        .route("/analytics", get(pages::analytics))
        .route("/segmentation", get(pages::segmentation))
        .route("/models", get(pages::models))
        .route("/training", get(pages::training))
        .route("/labeling", get(pages::labeling))
        .route("/annotate", get(pages::annotate))
        .route("/check", get(pages::check))
        .route("/drift", get(pages::drift))
        .route("/datasets", get(pages::datasets))
        .route("/health", get(pages::health))
        .route("/settings", get(pages::settings))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", axum::routing::post(login::logout))
        .route("/static/{file}", get(assets::serve))
        .route("/static/fonts/{file}", get(assets::font))
}
