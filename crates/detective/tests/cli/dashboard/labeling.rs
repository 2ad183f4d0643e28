//! The labeling queue page: draw, classify, delete, submit and skip with the
//! mouse and keys.

use super::helpers::{Page, api, drag, log_frames, shot, until, visible};
use fantoccini::Locator;
use serde_json::Value;

/// As the admin, with detector@1 in Production. `status` is `/api/model-status`
/// as read on the Models page (its version is checked last, as before the split).
pub(super) async fn draw_submit_and_skip(p: &Page, status: &Value) {
    let Page {
        c,
        base,
        dir,
        admin,
        device,
        ..
    } = p;
    let port = p.port;
    // Labeling queue (admin): draw a box with the mouse, set its class with a key,
    // draw and delete another, submit with Ctrl+Enter, skip the next with S.
    let mut seed = 10;
    while api(base, admin, "/api/labeling-queue").await["pending"]
        .as_i64()
        .unwrap()
        < 3
    {
        log_frames(dir, port, device, "line3-cam1", 10, seed);
        seed += 1;
        assert!(seed < 20, "no uncertain frames queued");
    }
    let before = api(base, admin, "/api/labeling-queue").await;
    c.goto(&format!("{base}/labeling")).await.unwrap();
    until(
        c,
        "the frame on the canvas",
        "document.getElementById('canvas').dataset.ready",
    )
    .await;
    let pending = visible(c, "#n-pending").await;
    assert_eq!(pending, before["pending"].to_string());
    let n0: i64 = until(
        c,
        "the model's boxes",
        "document.getElementById('canvas').dataset.boxes",
    )
    .await
    .as_str()
    .unwrap()
    .parse()
    .unwrap();
    let canvas = c.find(Locator::Css("#canvas")).await.unwrap();
    canvas.send_keys("r").await.unwrap();
    c.execute(&drag((0.05, 0.05), (0.25, 0.3)), vec![]).await.unwrap();
    until(
        c,
        "the drawn box",
        &format!("document.getElementById('canvas').dataset.boxes === '{}'", n0 + 1),
    )
    .await;
    canvas.send_keys("2").await.unwrap();
    canvas.send_keys("r").await.unwrap();
    c.execute(&drag((0.6, 0.6), (0.9, 0.9)), vec![]).await.unwrap();
    until(
        c,
        "a second box",
        &format!("document.getElementById('canvas').dataset.boxes === '{}'", n0 + 2),
    )
    .await;
    canvas.send_keys("\u{E017}").await.unwrap(); // Delete
    until(
        c,
        "the second box deleted",
        &format!("document.getElementById('canvas').dataset.boxes === '{}'", n0 + 1),
    )
    .await;
    shot(c, "labeling").await;
    canvas.send_keys("\u{E009}\u{E007}\u{E000}").await.unwrap(); // Ctrl+Enter
    until(
        c,
        "the label stored",
        "document.getElementById('label-status').textContent.includes('labelled with')",
    )
    .await;
    let labeled = api(base, admin, "/api/labeling-queue?status=labeled").await;
    assert_eq!(labeled["items"].as_array().unwrap().len(), 1, "{labeled}");
    assert_eq!(labeled["done"], before["done"].as_i64().unwrap() + 1);
    until(c, "the next frame", "document.getElementById('canvas').dataset.ready").await;
    c.find(Locator::Css("#canvas"))
        .await
        .unwrap()
        .send_keys("s")
        .await
        .unwrap();
    until(
        c,
        "the skip",
        "document.getElementById('label-status').textContent.includes('skipped')",
    )
    .await;
    let skipped = api(base, admin, "/api/labeling-queue?status=skipped").await;
    assert_eq!(skipped["items"].as_array().unwrap().len(), 1, "{skipped}");
    let done = visible(c, "#n-done").await;
    assert_eq!(
        done,
        (before["done"].as_i64().unwrap() + 2).to_string(),
        "the counter follows"
    );
    assert_eq!(status["models"][0]["version"], 1, "{status}");
}
