//! The models page (the registry): empty and without stage buttons for a viewer;
//! for the admin, the version registered from the Training page is promoted, and
//! an Ultralytics checkpoint is registered from a file.

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

/// As the admin: Ultralytics' `.pt` chosen in the register form becomes `ultra@1`,
/// imported into our detector.
pub(super) async fn register_an_ultralytics_checkpoint(p: &Page) {
    let Page { c, base, .. } = p;
    let pt =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models/ultralytics-yolov8n-neu-e1.pt");
    c.goto(&format!("{base}/models")).await.unwrap();
    super::helpers::type_into(c, "#r-name", "ultra").await;
    c.find(Locator::Css("#r-file"))
        .await
        .unwrap()
        .send_keys(&pt.canonicalize().unwrap().display().to_string())
        .await
        .unwrap();
    click(c, "#register button[type=submit]").await;
    until(
        c,
        "the registered checkpoint",
        "document.querySelector('[data-model=ultra] tr[data-version=\"1\"]') !== null",
    )
    .await;
    let status = super::helpers::visible(c, "#r-status").await;
    assert!(
        status.contains("Registered ultra@1")
            && status.contains("YOLOv8n")
            && status.contains("imported from Ultralytics"),
        "{status}"
    );
    shot(c, "models-register").await;
}
