//! The settings page: API keys and the labeling thresholds.

use super::helpers::{Page, api, click, shot, type_into, until, visible};
use fantoccini::Locator;

/// As the admin: a key made here works until it is revoked here; thresholds
/// saved here apply at once.
pub(super) async fn keys_and_thresholds(p: &Page) {
    let Page { c, base, admin, .. } = p;
    // Settings (admin): a key created on the page works once, then is revoked there.
    c.goto(&format!("{base}/settings")).await.unwrap();
    type_into(c, "#k-name", "cam-9").await;
    click(c, "#new-key button[type=submit]").await;
    let secret = visible(c, "#secret-value").await;
    assert!(secret.starts_with("dd_"), "{secret}");
    let ok = reqwest::Client::new()
        .get(format!("{base}/api/model-status"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "the new device key works");
    until(
        c,
        "the key row",
        "document.querySelector('#keys tbody').textContent.includes('cam-9')",
    )
    .await;
    // Thresholds saved on the page apply at once.
    c.find(Locator::Css("#t-high")).await.unwrap().clear().await.unwrap();
    type_into(c, "#t-high", "0.65").await;
    click(c, "#thresholds button[type=submit]").await;
    let saved = until(c, "the save answer", "document.getElementById('t-status').textContent").await;
    assert!(saved.as_str().unwrap().contains("Saved"), "{saved}");
    let t = api(base, admin, "/api/settings/thresholds").await;
    assert_eq!(t["uncertain_high"].as_f64(), Some(0.65), "{t}");
    shot(c, "settings").await;
    c.execute(
        "[...document.querySelectorAll('#keys tbody tr')].find(r => r.textContent.includes('cam-9')).querySelector('button').click();",
        vec![],
    )
    .await
    .unwrap();
    c.accept_alert().await.unwrap();
    until(
        c,
        "the key revoked",
        "[...document.querySelectorAll('#keys tbody tr')].find(r => r.textContent.includes('cam-9')).textContent.includes('revoked')",
    )
    .await;
    let gone = reqwest::Client::new()
        .get(format!("{base}/api/model-status"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 401, "the revoked key no longer works");
}
