//! The health page: the components up and the edge agents listed.

use super::helpers::{Page, shot, until};

/// Components up, the agents listed.
pub(super) async fn components_and_agents(p: &Page) {
    let Page { c, base, .. } = p;
    // Health: components up, the agents listed.
    c.goto(&format!("{base}/health")).await.unwrap();
    until(
        c,
        "components",
        "document.querySelectorAll('.component.up').length === 3",
    )
    .await;
    until(
        c,
        "agents",
        "document.querySelector('#agents tbody').textContent.includes('line1-cam1')",
    )
    .await;
    shot(c, "health").await;
}
