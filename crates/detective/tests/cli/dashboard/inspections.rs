//! The inspections page: the whole log, the camera filter, its CSV export, new
//! rows over server-sent events, and the detail dialog.

use super::helpers::{Page, api, click, log_frames, shot, type_into, until};
use fantoccini::Locator;
use serde_json::Value;

/// `metrics` is `/api/metrics` as read on the overview; returns the predictions
/// total after the agent logged more (for the analytics page).
pub(super) async fn filter_export_and_follow(p: &Page, metrics: &Value) -> u64 {
    let Page {
        c,
        base,
        dir,
        viewer,
        device,
        ..
    } = p;
    let port = p.port;
    // Inspections: every row first, then the camera filter narrows the table.
    c.goto(&format!("{base}/inspections")).await.unwrap();
    let total = metrics["predictions_total"].as_u64().unwrap();
    let line2 = api(base, viewer, "/api/inspection-logs?camera=line2-cam1&limit=1000").await["items"]
        .as_array()
        .unwrap()
        .len();
    assert!(line2 > 0 && (line2 as u64) < total, "{line2} of {total}");
    until(
        c,
        "every row",
        &format!("document.querySelectorAll('#log tbody tr').length === {total}"),
    )
    .await;
    type_into(c, "#f-camera", "line2-cam1").await;
    click(c, "#filters button[type=submit]").await;
    until(
        c,
        "the filter",
        &format!("document.querySelectorAll('#log tbody tr').length === {line2}"),
    )
    .await;
    let cams = c
        .execute(
            "return [...document.querySelectorAll('#log tbody tr td:nth-child(3)')].map(td => td.textContent);",
            vec![],
        )
        .await
        .unwrap();
    assert!(cams.as_array().unwrap().iter().all(|v| v == "line2-cam1"), "{cams}");
    let csv = c
        .find(Locator::Css("#csv"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(csv.contains("camera=line2-cam1") && csv.contains("format=csv"), "{csv}");
    // The CSV link gives the same rows.
    let body = reqwest::Client::new()
        .get(format!("{base}{csv}"))
        .bearer_auth(viewer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body.lines().count(), line2 + 1, "header + the rows: {body}");
    // New predictions of the filtered camera appear without a reload (server-sent events).
    until(c, "the event stream", "document.body.dataset.live === 'sse'").await;
    let (dir2, key2) = (dir.clone(), device.clone());
    tokio::task::spawn_blocking(move || log_frames(&dir2, port, &key2, "line2-cam1", 4, 9))
        .await
        .unwrap();
    let now = api(base, viewer, "/api/inspection-logs?camera=line2-cam1&limit=1000").await["items"]
        .as_array()
        .unwrap()
        .len();
    assert!(now > line2, "the agent logged more");
    until(
        c,
        "the new rows",
        &format!("document.querySelectorAll('#log tbody tr').length === {now}"),
    )
    .await;
    let now_total = api(base, viewer, "/api/metrics").await["predictions_total"]
        .as_u64()
        .unwrap();
    // The detail view opens with the prediction's boxes.
    click(c, "#log tbody tr").await;
    until(c, "the detail dialog", "document.getElementById('detail').open").await;
    shot(c, "inspections").await;
    now_total
}
