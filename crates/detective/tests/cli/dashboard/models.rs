//! The models page (the registry): empty and without stage buttons for a viewer;
//! for the admin, the version registered from the Training page is promoted.

use super::helpers::{Page, api, click, shot, until};
use fantoccini::Locator;
use serde_json::Value;

/// As a viewer, before any model is registered.
pub(super) async fn empty_for_a_viewer(p: &Page) {
    let Page { c, base, .. } = p;
    // Models: the registry (empty here) says so.
    c.goto(&format!("{base}/models")).await.unwrap();
    until(
        c,
        "the empty registry",
        "document.querySelector('main').textContent.includes('No model is registered yet')",
    )
    .await;
    assert!(
        c.find(Locator::Css("button[data-stage]")).await.is_err(),
        "viewers get no stage buttons"
    );
}

/// As the admin, after `training::train_and_register`: detector@1 is promoted to
/// Production; returns `/api/model-status` read afterwards.
pub(super) async fn promote_the_trained_version(p: &Page) -> Value {
    let Page { c, base, admin, .. } = p;
    c.goto(&format!("{base}/models")).await.unwrap();
    until(
        c,
        "the registered version",
        "document.querySelector('[data-model=detector] tr[data-version=\"1\"]') !== null",
    )
    .await;
    click(
        c,
        "[data-model=detector] tr[data-version=\"1\"] button[data-stage=Production]",
    )
    .await;
    until(
        c,
        "the version in Production",
        "document.querySelector('[data-model=detector] tr[data-version=\"1\"] .stage-badge').textContent === 'Production'",
    )
    .await;
    let status = api(base, admin, "/api/model-status").await;
    assert_eq!(status["models"][0]["name"], "detector", "{status}");
    shot(c, "models").await;
    status
}
