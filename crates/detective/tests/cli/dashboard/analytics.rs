//! The analytics page: the period's figures and the charts.

use super::helpers::{Page, shot, until, visible};

/// `now_total` is the predictions total from the API, after the inspections page.
pub(super) async fn figures_and_charts(p: &Page, now_total: u64) {
    let Page { c, base, .. } = p;
    // Analytics: the period's figures match the API, every chart is an SVG that loads.
    c.goto(&format!("{base}/analytics")).await.unwrap();
    until(
        c,
        "the period's figures",
        &format!("document.getElementById('a-total').textContent.replace(/,/g, '') === '{now_total}'"),
    )
    .await;
    until(
        c,
        "six charts",
        // every chart is the server's SVG, inlined: six that loaded, each with its drawing
        "[...document.querySelectorAll('.chart > svg')].filter(s => s.querySelector('rect, path, polyline, text')).length === 6",
    )
    .await;
    let rc = visible(c, "#rootcause tbody").await;
    assert!(!rc.is_empty(), "the root-cause panel says something");
    shot(c, "analytics").await;
}
