//! The dashboard's static files, compiled into the binary (`static/`), served
//! under `/static/{file}` with their content type, and the fonts under
//! `/static/fonts/{file}`. Nothing comes from a CDN.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// (name, content type, bytes).
const FILES: [(&str, &str, &str); 18] = [
    ("app.css", CSS, include_str!("../../static/app.css")),
    ("common.js", JS, include_str!("../../static/common.js")),
    ("overview.js", JS, include_str!("../../static/overview.js")),
    ("live.js", JS, include_str!("../../static/live.js")),
    ("inspections.js", JS, include_str!("../../static/inspections.js")),
    ("health.js", JS, include_str!("../../static/health.js")),
    ("datasets.js", JS, include_str!("../../static/datasets.js")),
    ("settings.js", JS, include_str!("../../static/settings.js")),
    ("rules.js", JS, include_str!("../../static/rules.js")),
    ("analytics.js", JS, include_str!("../../static/analytics.js")),
    ("segmentation.js", JS, include_str!("../../static/segmentation.js")),
    ("models.js", JS, include_str!("../../static/models.js")),
    ("training.js", JS, include_str!("../../static/training.js")),
    ("labeling.js", JS, include_str!("../../static/labeling.js")),
    ("annotate.js", JS, include_str!("../../static/annotate.js")),
    ("check.js", JS, include_str!("../../static/check.js")),
    ("drift.js", JS, include_str!("../../static/drift.js")),
    ("alerts.js", JS, include_str!("../../static/alerts.js")),
];

/// The fonts (WOFF2, SIL OFL 1.1; see `static/fonts/README.md`).
const FONTS: [(&str, &[u8]); 5] = [
    (
        "inter-latin-400-normal.woff2",
        include_bytes!("../../static/fonts/inter-latin-400-normal.woff2"),
    ),
    (
        "inter-latin-600-normal.woff2",
        include_bytes!("../../static/fonts/inter-latin-600-normal.woff2"),
    ),
    (
        "inter-latin-700-normal.woff2",
        include_bytes!("../../static/fonts/inter-latin-700-normal.woff2"),
    ),
    (
        "space-grotesk-latin-500-normal.woff2",
        include_bytes!("../../static/fonts/space-grotesk-latin-500-normal.woff2"),
    ),
    (
        "space-grotesk-latin-700-normal.woff2",
        include_bytes!("../../static/fonts/space-grotesk-latin-700-normal.woff2"),
    ),
];

/// `/static/fonts/{file}`: a font, cached for a day (its name never changes meaning).
pub async fn font(Path(file): Path<String>) -> Response {
    match FONTS.iter().find(|(name, _)| *name == file) {
        Some((_, body)) => (
            [
                (header::CONTENT_TYPE, "font/woff2"),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such font").into_response(),
    }
}

pub async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}
