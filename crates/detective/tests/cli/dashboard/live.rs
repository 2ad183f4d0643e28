//! The live page: the edge cameras for a viewer (who may not stream); for the
//! admin, the newest alerts, and the browser's (fake) camera streams to the
//! model and the answers are drawn as red boxes on the overlay.

use super::helpers::{Page, api, click, shot, until};
use fantoccini::Locator;

/// As a viewer: the edge cameras, no camera button.
pub(super) async fn edge_cameras_for_a_viewer(p: &Page) {
    let Page { c, base, .. } = p;
    // Live as a viewer: the edge cameras, but no camera streaming (viewers may not predict).
    c.goto(&format!("{base}/live")).await.unwrap();
    until(
        c,
        "edge camera cards",
        "document.querySelectorAll('#agents article').length === 2",
    )
    .await;
    assert!(
        c.find(Locator::Css("#start")).await.is_err(),
        "viewers get no camera button"
    );
}

/// As the admin: the fake camera streams and detections are drawn.
pub(super) async fn camera_streams_for_an_admin(p: &Page) {
    let Page { c, base, admin, .. } = p;
    c.goto(&format!("{base}/live")).await.unwrap();
    // The alert fired on the Settings page is listed here, with its icon.
    until(
        c,
        "the alert on the live page",
        "!!document.querySelector('#live-alerts li[data-kind=\"model_promoted\"] svg.icon')",
    )
    .await;
    click(c, "#start").await;
    until(
        c,
        "answers with detections",
        "Number(document.getElementById('overlay').dataset.detections || 0) > 0",
    )
    .await;
    until(c, "an FPS figure", "document.getElementById('fps').textContent !== '–'").await;
    let red = until(
        c,
        "red box pixels on the overlay",
        "(() => { const cv = document.getElementById('overlay'); \
          const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data; let n = 0; \
          for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i+1] < 60 && d[i+2] < 60 && d[i+3] > 200) n++; \
          return n; })()",
    )
    .await;
    assert!(red.as_u64().unwrap() > 50, "{red}");
    let served = api(base, admin, "/api/metrics").await;
    assert!(served["predict"]["requests"].as_u64().unwrap() > 0, "{served}");
    shot(c, "live").await;
}
