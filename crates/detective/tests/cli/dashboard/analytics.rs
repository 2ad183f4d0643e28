//! The analytics page: the period's figures, the charts and the insights.

use super::helpers::{Page, click, shot, type_into, until, visible};

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
    // Insights: a sentence with its citations, each a link to the chart that holds its number.
    let cited = until(
        c,
        "a cited insight",
        "[...document.querySelectorAll('#insights li')].filter(li => li.querySelector('a.cite')).map(li => li.textContent)[0]",
    )
    .await;
    assert!(cited.as_str().unwrap().contains("[F1]"), "{cited}");
    let href = until(
        c,
        "the citation's chart",
        "document.querySelector('#insights a.cite').getAttribute('href')",
    )
    .await;
    assert_eq!(href, "#c-rate");
    // A person (a viewer, here) marks the first sentence wrong; it is kept for review.
    click(c, "#insights li .wrong button").await;
    type_into(c, "#insights li .wrong input", "the rate is per camera").await;
    click(c, "#insights li .wrong button").await;
    until(
        c,
        "the mark kept",
        "document.querySelector('#insights li .wrong').textContent.includes('kept for review')",
    )
    .await;
    shot(c, "analytics").await;
}
