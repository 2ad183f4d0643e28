//! The overview page (`/`): a viewer lands on it with the service's own
//! figures, the latest defects with loading thumbnails, and the cameras.

use super::helpers::{Page, api, login, shot, until};
use serde_json::Value;

/// Signs the viewer in and checks the overview; returns `/api/metrics` as read
/// for the comparison (the inspections page counts on its total).
pub(super) async fn figures_for_a_viewer(p: &Page) -> Value {
    let Page { c, base, viewer, .. } = p;
    // A viewer signs in and lands on the overview with the service's own figures.
    login(c, base, viewer).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    let metrics = api(base, viewer, "/api/metrics").await;
    let today = until(
        c,
        "the figures",
        "document.getElementById('k-total').textContent.replace(/,/g, '')",
    )
    .await;
    assert_eq!(today.as_str().unwrap(), metrics["predictions_total"].to_string());
    until(c, "latest defects", "document.querySelectorAll('#latest img').length").await;
    until(
        c,
        "camera rows",
        "document.querySelectorAll('#cameras tbody tr td').length > 1",
    )
    .await;
    // Thumbnails load (the frame route answers real JPEGs).
    until(
        c,
        "thumbnail pixels",
        "[...document.querySelectorAll('#latest img')].some(i => i.complete && i.naturalWidth > 0)",
    )
    .await;
    shot(c, "overview").await;
    metrics
}
